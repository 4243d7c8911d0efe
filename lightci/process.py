"""The one way lightci runs a subprocess, and the one way it runs git."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from lightci.errors import LightciError


class CommandError(LightciError):
    """A subprocess that exited non-zero; the message shows the command and output."""

    def __init__(self, args: Sequence[str], returncode: int, output: str) -> None:
        self.args_list = list(args)
        self.returncode = returncode
        self.output = output
        shown = " ".join(self.args_list)
        detail = output.strip()
        message = f"command failed with exit code {returncode}: {shown}"
        if detail:
            message += f"\n{detail}"
        super().__init__(message)


def clean_environ(
    base: Mapping[str, str] | None = None, *, keep_transport: bool = True
) -> dict[str, str]:
    """Return a copy of the environment without git's GIT_* variables.

    A hook runs with GIT_DIR, GIT_INDEX_FILE and friends set for the
    repository that called it; passed on, they make a git command in another
    folder act on the wrong repository. With ``keep_transport``, the
    variables that choose how git reaches a remote (GIT_SSH, GIT_SSH_COMMAND,
    GIT_ASKPASS, GIT_TERMINAL_PROMPT) stay, because they carry the user's
    choices and name no repository.
    """
    keep = (
        ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_TERMINAL_PROMPT")
        if keep_transport
        else ()
    )
    source = os.environ if base is None else base
    return {
        key: value
        for key, value in source.items()
        if not key.startswith("GIT_") or key in keep
    }


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion and capture its output."""
    try:
        result = subprocess.run(
            list(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LightciError(
            f"cannot run {args[0]!r}: not found; install it or fix PATH"
        ) from exc
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).decode("utf-8", "replace")
        raise CommandError(args, result.returncode, output)
    return result


def git(
    git_dir: Path,
    *args: str,
    work_tree: Path | None = None,
    input: bytes | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run git on the repository at ``git_dir`` (an absolute path).

    The hook's GIT_* variables are dropped first, so the command acts on
    ``git_dir`` whatever the caller's environment sets.
    """
    command = ["git", f"--git-dir={git_dir}"]
    if work_tree is not None:
        command.append(f"--work-tree={work_tree}")
    command.extend(args)
    full_env = clean_environ()
    if env:
        full_env.update(env)
    return run(
        command, cwd=work_tree or git_dir, env=full_env, input=input, check=check
    )


def git_text(git_dir: Path, *args: str) -> str:
    """Run git and return its standard output as stripped text."""
    return git(git_dir, *args).stdout.decode("utf-8", "replace").strip()

"""``lightci install`` and ``lightci uninstall``: add or remove lightci's hooks.

A hook that was there before is renamed to ``<hook>.before-lightci`` and
lightci's hook calls it first, so nothing the user had stops working;
uninstalling moves it back.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pygit2

from lightci.errors import LightciError

MARKER = "installed by `lightci install"
PREVIOUS_SUFFIX = ".before-lightci"
SERVER_HOOKS = ("post-receive",)
CLIENT_HOOKS = ("pre-push", "post-commit")


def hook_template(name: str) -> str:
    return resources.files("lightci.hooks").joinpath(name).read_text()


def hooks_dir(repo: pygit2.Repository) -> Path:
    """Return the folder git runs this repository's hooks from."""
    git_dir = Path(repo.path).resolve()
    try:
        configured = repo.config["core.hooksPath"]
    except KeyError:
        return git_dir / "hooks"
    path = Path(os.path.expanduser(str(configured)))
    if not path.is_absolute():
        base = git_dir if repo.is_bare else Path(repo.workdir).resolve()
        path = base / path
    return path


def is_lightci_hook(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def install_hook(directory: Path, name: str, *, python: str | None = None) -> str:
    """Install one hook; return what happened, for the user."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    previous = directory / (name + PREVIOUS_SUFFIX)
    kept = ""
    if (target.exists() or target.is_symlink()) and not is_lightci_hook(target):
        if previous.exists():
            raise LightciError(
                f"{target} is not lightci's, and {previous} exists too; move "
                "one of them away, then run `lightci install` again"
            )
        os.replace(target, previous)
        kept = f" (the previous hook is kept as {previous.name} and still runs)"
    package = Path(__file__).resolve().parents[1]
    text = (
        hook_template(name)
        .replace("@LIGHTCI_PYTHON@", python or sys.executable)
        .replace("@LIGHTCI_PACKAGE@", str(package))
    )
    temporary = directory / f".{name}.lightci.tmp"
    with open(temporary, "w", newline="\n") as handle:
        handle.write(text)
    mode = os.stat(temporary).st_mode
    os.chmod(temporary, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(temporary, target)
    return f"installed {target}{kept}"


def uninstall_hook(directory: Path, name: str) -> str | None:
    target = directory / name
    previous = directory / (name + PREVIOUS_SUFFIX)
    if not is_lightci_hook(target):
        return None
    target.unlink()
    if previous.exists() or previous.is_symlink():
        os.replace(previous, target)
        return f"removed lightci's {name} hook and restored the previous one"
    return f"removed {target}"


def install_server(repo: pygit2.Repository) -> list[str]:
    if not repo.is_bare:
        raise LightciError(
            f"{repo.path} is not a bare repository; `lightci install --server` "
            "is for the repository that people push to. In a clone, run "
            "`lightci install`"
        )
    git_dir = Path(repo.path).resolve()
    state = git_dir / "lightci"
    for folder in ("numbers", "queue", "pipelines"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    directory = hooks_dir(repo)
    return [install_hook(directory, name) for name in SERVER_HOOKS]


def uninstall_server(repo: pygit2.Repository) -> list[str]:
    directory = hooks_dir(repo)
    messages = [uninstall_hook(directory, name) for name in SERVER_HOOKS]
    return [message for message in messages if message] or ["no lightci hook installed"]


@dataclass(frozen=True)
class ClientInstall:
    """The result of ``lightci install`` in a clone, for stdout and stderr."""

    messages: list[str]
    warnings: list[str]


def install_client(
    repo: pygit2.Repository, *, pre_push: bool = True, post_commit: bool = True
) -> ClientInstall:
    """Install (or, when turned off, remove) the client hooks of a clone."""
    from lightci.sync import check_clone_id, clone_id

    if repo.is_bare:
        raise LightciError(
            f"{repo.path} is a bare repository, and client hooks need a clone; "
            "use `lightci install --server` here, and `lightci install` in a clone"
        )
    origin = clone_id(repo)
    check_clone_id(origin)
    git_dir = Path(repo.path).resolve()
    for folder in ("numbers", "queue"):
        (git_dir / "lightci" / folder).mkdir(parents=True, exist_ok=True)
    directory = hooks_dir(repo)
    warnings = []
    if not _inside(directory, git_dir, Path(repo.workdir).resolve()):
        warnings.append(
            f"core.hooksPath is {directory}, outside this repository; the "
            "hooks installed there run in every repository that uses that folder"
        )
    messages = []
    for name, wanted in (("pre-push", pre_push), ("post-commit", post_commit)):
        if wanted:
            messages.append(install_hook(directory, name))
        else:
            removed = uninstall_hook(directory, name)
            if removed:
                messages.append(removed)
    messages.append(f"runs recorded here carry the id {origin} (git config lightci.id)")
    return ClientInstall(messages, warnings)


def uninstall_client(repo: pygit2.Repository) -> list[str]:
    directory = hooks_dir(repo)
    messages = [uninstall_hook(directory, name) for name in CLIENT_HOOKS]
    return [message for message in messages if message] or ["no lightci hook installed"]


def _inside(path: Path, *folders: Path) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder) for folder in folders)

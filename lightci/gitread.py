"""A light read-only view of lightci's records through git's plumbing.

``lightci log`` is a quick command: it reads about twenty small blobs. pygit2
costs about 40 ms to import, far more than that work, so this path lists
the run refs from their files and reads the records through one long-lived
``git cat-file --batch`` process. Everything that writes uses the store.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from lightci.errors import LightciError
from lightci.process import clean_environ
from lightci.records import (
    CLONES_PREFIX,
    REMOTES_PREFIX,
    RUNS_PREFIX,
    RecordError,
    RunRecord,
    parse_summary,
)


def find_git_dir(start: Path | None) -> Path:
    """Return the absolute git directory of the repository around ``start``."""
    folder = start or Path.cwd()
    result = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir"],
        cwd=folder,
        env=clean_environ(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise LightciError(
            f"not a git repository: {folder}; run lightci inside a repository "
            "or pass --repo PATH"
        )
    return Path(result.stdout.strip())


def has_other_places(git_dir: Path) -> bool:
    """Return whether runs fetched from a remote or pushed by clones may be here.

    A leftover empty folder also counts, so a True may be a false alarm.
    """
    prefixes = (REMOTES_PREFIX, CLONES_PREFIX)
    if any((git_dir / prefix).is_dir() for prefix in prefixes):
        return True
    try:
        packed = (git_dir / "packed-refs").read_bytes()
    except OSError:
        return False
    return any(prefix.encode() in packed for prefix in prefixes)


class GitReader:
    """Reads objects of one repository through ``git cat-file --batch``."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.warnings: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GitReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait()
            self._process = None

    def run_numbers(self) -> list[int]:
        """Return the numbers of all recorded runs, newest first."""
        from lightci import refs

        return list(refs.run_numbers(self.git_dir))

    def read(self, specs: Sequence[str]) -> list[bytes | None]:
        """Return the content of each object spec, or None where it is missing."""
        process = self._batch()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("".join(f"{spec}\n" for spec in specs).encode())
        process.stdin.flush()
        contents: list[bytes | None] = []
        for _ in specs:
            header = process.stdout.readline().split()
            if len(header) != 3 or header[-1] == b"missing":
                contents.append(None)
                continue
            size = int(header[2])
            contents.append(process.stdout.read(size))
            process.stdout.read(1)
        return contents

    def _batch(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=clean_environ(),
            )
        return self._process

    def read_runs(self, numbers: Sequence[int]) -> list[RunRecord]:
        blobs = self.read([f"{RUNS_PREFIX}{number}:run.json" for number in numbers])
        runs = []
        for blob in blobs:
            if not blob:
                continue
            try:
                runs.append(parse_summary(blob))
            except RecordError as exc:
                self.warnings.append(str(exc))
        return runs

    def subjects(self, commits: Sequence[str]) -> dict[str, str]:
        """Return the first line of each commit's message."""
        subjects = {}
        for commit, raw in zip(commits, self.read(commits), strict=True):
            if raw is None:
                continue
            _, _, message = raw.partition(b"\n\n")
            subjects[commit] = message.split(b"\n", 1)[0].decode("utf-8", "replace")
        return subjects

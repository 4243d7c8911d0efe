"""A light read-only view of lightci's records through git's plumbing.

``lightci log`` is a quick command: it reads about twenty small blobs. pygit2
costs about 40 ms to import, far more than that work, so this path reads
the same records through one ``git for-each-ref`` and one long-lived ``git
cat-file --batch`` process instead. Everything that writes uses the store.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from lightci.errors import LightciError
from lightci.process import clean_environ
from lightci.records import RUNS_PREFIX, RunRecord


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


class GitReader:
    """Reads objects of one repository through ``git cat-file --batch``."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
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
        result = subprocess.run(
            [
                "git",
                f"--git-dir={self.git_dir}",
                "for-each-ref",
                "--format=%(refname)",
                RUNS_PREFIX,
            ],
            env=clean_environ(),
            capture_output=True,
            check=True,
        )
        numbers = []
        for line in result.stdout.decode().splitlines():
            tail = line[len(RUNS_PREFIX) :]
            if tail.isdigit():
                numbers.append(int(tail))
        numbers.sort(reverse=True)
        return numbers

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
        return [RunRecord.from_summary(json.loads(blob)) for blob in blobs if blob]

    def subjects(self, commits: Sequence[str]) -> dict[str, str]:
        """Return the first line of each commit's message."""
        subjects = {}
        for commit, raw in zip(commits, self.read(commits), strict=True):
            if raw is None:
                continue
            _, _, message = raw.partition(b"\n\n")
            subjects[commit] = message.split(b"\n", 1)[0].decode("utf-8", "replace")
        return subjects

"""Fixtures that build real repositories in temporary folders.

``hermetic`` (used by every test) gives each test its own HOME and git
config, drops the caller's GIT_* variables and fixes the commit dates, so
no test reads or writes anything of the machine's. Every test also ends
the processes it started: a worker launched by a hook included.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

LIGHTCI = [sys.executable, "-I", "-m", "lightci"]


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith("GIT_") or key in ("NO_COLOR", "LIGHTCI_RUN"):
            monkeypatch.delenv(key, raising=False)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        textwrap.dedent(
            """\
            [user]
                name = Test User
                email = test@example.com
            [init]
                defaultBranch = main
            [advice]
                detachedHead = false
            [protocol "file"]
                allow = always
            """
        )
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-01-01T12:00:00Z")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-01T12:00:00Z")
    yield
    kill_processes_under(tmp_path)


def kill_processes_under(folder: Path) -> None:
    """SIGKILL every process whose command line or folder is under ``folder``."""
    marker = str(folder)
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if marker.encode() in cmdline or cwd.startswith(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGKILL)


def run(
    *args: str | Path,
    cwd: Path | None = None,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        text=True,
        input=input,
        capture_output=True,
        env=env,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\n"
            f"stderr:\n{result.stderr}"
        )
    return result


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("git", *args, cwd=cwd, check=check)


def lightci(
    cwd: Path, *args: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(*LIGHTCI, *args, cwd=cwd, check=check, input=input)


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))


def commit_all(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").stdout.strip()


class Server:
    """A bare repository with lightci's server hook, and a clone to push from."""

    def __init__(self, root: Path) -> None:
        self.git_dir = root / "server.git"
        self.clone = root / "work"
        git(root, "init", "-q", "--bare", str(self.git_dir))
        lightci(self.git_dir, "install", "--server")
        git(root, "init", "-q", str(self.clone))
        git(self.clone, "remote", "add", "origin", str(self.git_dir))

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        write_files(self.clone, files)
        return commit_all(self.clone, message)

    def push(
        self, *refspecs: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        specs = refspecs or ("HEAD:refs/heads/main",)
        return git(self.clone, "push", "-q", "origin", *specs, check=check)

    def lightci(
        self, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return lightci(self.git_dir, *args, check=check)

    def wait_idle(self, timeout: float = 120) -> None:
        wait_idle(self.git_dir, timeout)


def wait_idle(git_dir: Path, timeout: float = 120) -> None:
    """Wait until the queue is empty and no worker holds the lock."""
    state = git_dir / "lightci"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = [p for p in (state / "queue").glob("*") if p.name.isdigit()]
        if not queued and not _lock_held(state / "worker.lock"):
            return
        time.sleep(0.1)
    log = (state / "worker.log").read_text() if (state / "worker.log").exists() else ""
    raise AssertionError(f"worker still busy after {timeout}s; worker.log:\n{log}")


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def alive(pid: int) -> bool:
    """Return whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _lock_held(path: Path) -> bool:
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture
def server(tmp_path: Path) -> Server:
    return Server(tmp_path)


CHROMIUM = Path("/usr/bin/chromium")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip browser tests when chromium is missing, or fail them under CI=true."""
    if item.get_closest_marker("browser") is None or CHROMIUM.exists():
        return
    message = f"browser tests need {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)

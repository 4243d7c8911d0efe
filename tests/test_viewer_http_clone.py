"""Cloning and fetching a repository through the viewer's git smart HTTP."""

from __future__ import annotations

import re
import selectors
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LIGHTCI, Server, git, lightci, run

PIPELINE = """\
jobs:
  build:
    steps:
      - run: echo building > out.txt
    artifacts: [out.txt]
"""


def start_viewer(git_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``lightci serve`` on a free port; return the process and its URL.

    The server's log goes to ``viewer.log`` beside the repository, so a
    full pipe never blocks it.
    """
    log_path = git_dir.parent / "viewer.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*LIGHTCI, "serve", str(git_dir), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.5):
            if process.poll() is not None:
                break
            continue
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if match:
            return process, match.group(0)
        if not line:
            break
    process.kill()
    process.wait(timeout=5)
    raise AssertionError(f"lightci serve printed no URL; log:\n{log_path.read_text()}")


def stop_viewer(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def viewer(server: Server) -> Iterator[str]:
    server.commit({".lightci.yml": PIPELINE}, "Add the pipeline")
    server.push()
    server.wait_idle()
    process, url = start_viewer(server.git_dir)
    try:
        yield url
    finally:
        stop_viewer(process)


def test_clone_fetches_lightci_refs(viewer: str, tmp_path: Path) -> None:
    clone = tmp_path / "http-clone"

    git(tmp_path, "clone", "-q", f"{viewer}server.git", str(clone))
    git(clone, "fetch", "-q", "origin", "+refs/lightci/*:refs/lightci/*")
    git(clone, "fetch", "-q", "origin", "+refs/notes/*:refs/notes/*")
    refs = git(clone, "for-each-ref", "--format=%(refname)").stdout.split()
    log = lightci(clone, "log").stdout

    assert "refs/lightci/runs/1" in refs
    assert "refs/lightci/artifacts/1/out.txt" in refs
    assert "refs/notes/lightci" in refs
    assert re.search(r"#1\s+passed", log), log
    assert "Add the pipeline" in log


def test_fetch_gets_new_runs(viewer: str, server: Server, tmp_path: Path) -> None:
    clone = tmp_path / "http-clone"
    git(tmp_path, "clone", "-q", f"{viewer}server.git", str(clone))
    server.commit({"more.txt": "more\n"}, "Second commit")
    server.push()
    server.wait_idle()

    git(clone, "fetch", "-q", "origin", "+refs/lightci/*:refs/lightci/*")
    git(clone, "fetch", "-q", "origin", "+refs/notes/*:refs/notes/*")
    log = lightci(clone, "log").stdout

    assert re.search(r"#2\s+passed", log), log


def test_push_over_http_is_rejected(
    viewer: str, server: Server, tmp_path: Path
) -> None:
    clone = tmp_path / "http-clone"
    git(tmp_path, "clone", "-q", f"{viewer}server.git", str(clone))
    (clone / "new.txt").write_text("new\n")
    git(clone, "add", "new.txt")
    git(clone, "commit", "-q", "-m", "Try to push")

    pushed = run(
        "git", "push", "origin", "HEAD:refs/heads/pushed", cwd=clone, check=False
    )
    branches = git(server.git_dir, "branch", "--list").stdout

    assert pushed.returncode != 0
    assert "403" in pushed.stderr
    assert "pushed" not in branches

"""Runs from a server and two clones meet through lightci sync, and no place
loses a run or a note line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import Server, git, lightci, wait_idle, write_files

PIPELINE = {".lightci.yml": "jobs:\n  check:\n    steps: [echo checked]\n"}


class Clone:
    """A developer's clone with lightci's client hooks and remote setup."""

    def __init__(self, server: Server, name: str, clone_id: str) -> None:
        self.path = server.git_dir.parent / name
        git(server.git_dir.parent, "clone", "-q", str(server.git_dir), str(self.path))
        git(self.path, "config", "lightci.id", clone_id)
        lightci(self.path, "install")
        lightci(self.path, "remote", "setup", "origin")
        self.id = clone_id

    def commit(self, files: dict[str, str], message: str) -> str:
        write_files(self.path, files)
        git(self.path, "add", *files)
        git(self.path, "commit", "-q", "-m", message)
        wait_idle(self.path / ".git")
        return git(self.path, "rev-parse", "HEAD").stdout.strip()

    def push(self) -> None:
        git(self.path, "pull", "-q", "--rebase", "origin", "main", check=False)
        git(self.path, "push", "-q", "origin", "HEAD:refs/heads/main")

    def sync(self) -> str:
        return lightci(self.path, "sync").stdout


def run_ids(repo: Path) -> set[str]:
    return {item["id"] for item in json.loads(lightci(repo, "log", "--json").stdout)}


def note_lines(repo: Path, commit: str) -> set[str]:
    shown = git(repo, "notes", "--ref=lightci", "show", commit, check=False)
    return set(shown.stdout.splitlines())


@pytest.fixture
def places(server: Server) -> tuple[Server, Clone, Clone]:
    alice = Clone(server, "alice", "alice@laptop-1a2b")
    bob = Clone(server, "bob", "bob@desk-9f9f")
    return server, alice, bob


@pytest.mark.parametrize("order", ["alice-first", "bob-first"])
def test_sync_brings_every_run_everywhere(
    places: tuple[Server, Clone, Clone], order: str
) -> None:
    server, alice, bob = places
    first_commit = alice.commit(PIPELINE, "add pipeline")
    alice.push()
    server.wait_idle()
    git(bob.path, "pull", "-q", "origin", "main")
    second_commit = bob.commit({"bob.txt": "bob\n"}, "bob's change")
    bob.push()
    server.wait_idle()
    first, second = (alice, bob) if order == "alice-first" else (bob, alice)

    first.sync()
    second.sync()
    first.sync()

    expected = {
        "server": {"1", "2"},
        alice.id: {"1"},
        bob.id: {"1"},
    }
    views = {
        "server": (server.git_dir, None),
        "alice": (alice.path, alice.id),
        "bob": (bob.path, bob.id),
    }
    for name, (repo, own) in views.items():
        ids = run_ids(repo)
        for place, numbers in expected.items():
            for number in numbers:
                if place == own:
                    wanted = number
                elif place == "server":
                    wanted = number if own is None else f"origin/{number}"
                else:
                    wanted = f"{place}/{number}"
                assert wanted in ids, (name, wanted, ids)
        assert len(ids) == 4, (name, ids)

    first_lines = note_lines(server.git_dir, first_commit)
    second_lines = note_lines(server.git_dir, second_commit)
    assert any(line.startswith("run 1 passed (push main") for line in first_lines)
    assert any(line.startswith(f"run 1 @{alice.id} passed") for line in first_lines)
    assert any(line.startswith("run 2 passed (push main") for line in second_lines)
    assert any(line.startswith(f"run 1 @{bob.id} passed") for line in second_lines)
    assert len(second_lines) == 2
    for repo in (alice.path, bob.path):
        assert note_lines(repo, first_commit) == first_lines
        assert note_lines(repo, second_commit) == second_lines

    shown = json.loads(lightci(alice.path, "show", "origin/2", "--json").stdout)
    assert shown["commit"] == second_commit
    assert shown["id"] == "origin/2"
    assert "checked" in lightci(alice.path, "logs", f"{bob.id}/1").stdout
    git(alice.path, "fetch", "-q", "origin")
    status = lightci(alice.path, "status", second_commit)
    assert "passed (run " in status.stdout
    merges = git(alice.path, "log", "--merges", "--format=%H", "refs/notes/lightci")
    assert merges.stdout.strip()


def test_plain_fetch_shows_server_runs(server: Server) -> None:
    alice = Clone(server, "alice", "alice@laptop-1a2b")
    alice.commit(PIPELINE, "add pipeline")
    alice.push()
    server.wait_idle()

    git(alice.path, "fetch", "-q")

    log = lightci(alice.path, "log").stdout
    assert "origin/1 " in log
    assert "#1 " in log
    refspecs = git(alice.path, "config", "--get-all", "remote.origin.fetch").stdout
    lightci(alice.path, "remote", "setup", "origin")
    again = git(alice.path, "config", "--get-all", "remote.origin.fetch").stdout
    assert again == refspecs
    assert "+refs/notes/lightci:refs/notes/remotes/origin/lightci" in refspecs


def test_sync_retries_when_server_notes_move(server: Server, tmp_path: Path) -> None:
    alice = Clone(server, "alice", "alice@laptop-1a2b")
    alice.commit(PIPELINE, "add pipeline")
    alice.push()
    server.wait_idle()
    # The server's pre-receive hook finishes a server run while the sync's
    # notes push is under way, once, so the push must be retried.
    guard = tmp_path / "moved-once"
    hook = server.git_dir / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "grep -q ' refs/notes/lightci$' || exit 0\n"
        f"test -e {guard} && exit 0\n"
        f"touch {guard}\n"
        "unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY"
        " GIT_ALTERNATE_OBJECT_DIRECTORIES\n"
        f"{sys.executable} -I -m lightci -C {server.git_dir} run main"
        " >/dev/null 2>&1\n"
        "exit 0\n"
    )
    hook.chmod(0o755)

    output = alice.sync()

    assert guard.exists()
    assert "changed during the sync" in output
    commit = git(alice.path, "rev-parse", "HEAD").stdout.strip()
    lines = note_lines(server.git_dir, commit)
    assert any(line.startswith("run 1 passed (push main") for line in lines)
    assert any(line.startswith("run 2 passed (manual main") for line in lines)
    assert any(line.startswith(f"run 1 @{alice.id} passed") for line in lines)
    assert note_lines(alice.path, commit) == lines
    assert "origin/2" in run_ids(alice.path)

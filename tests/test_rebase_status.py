"""A commit rewritten without changing its tree reuses the tree's result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, lightci, write_files

PASSING = {".lightci.yml": "jobs:\n  check:\n    steps: [test -f ok.txt]\n"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(path))
    return path


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def test_amended_commit_gets_old_result(repo: Path) -> None:
    built = commit(repo, {**PASSING, "ok.txt": "yes\n"}, "first")
    lightci(repo, "run")
    git(repo, "commit", "-q", "--amend", "-m", "other")
    amended = git(repo, "rev-parse", "HEAD").stdout.strip()
    assert amended != built

    status = lightci(repo, "status", check=False)

    assert status.returncode == 0
    assert status.stdout == (
        f"{amended[:10]}: passed (run 1, built as commit {built[:10]})\n"
    )
    data = json.loads(lightci(repo, "status", "--json").stdout)
    assert data["built_as"] == built
    assert data["number"] == 1


def test_amended_failure_keeps_exit_code(repo: Path) -> None:
    built = commit(repo, PASSING, "no ok.txt")
    lightci(repo, "run", check=False)
    git(repo, "commit", "-q", "--amend", "-m", "reworded")

    status = lightci(repo, "status", check=False)

    assert status.returncode == 1
    assert f"failed (run 1, built as commit {built[:10]})" in status.stdout


def test_changed_tree_has_no_result(repo: Path) -> None:
    commit(repo, {**PASSING, "ok.txt": "yes\n"}, "first")
    lightci(repo, "run")
    write_files(repo, {"ok.txt": "changed\n"})
    git(repo, "commit", "-q", "--amend", "-a", "-m", "other tree")

    status = lightci(repo, "status", check=False)

    assert status.returncode == 2
    assert status.stdout.endswith(": no run\n")


def test_commit_own_run_wins(repo: Path) -> None:
    commit(repo, {**PASSING, "ok.txt": "yes\n"}, "first")
    lightci(repo, "run")
    git(repo, "commit", "-q", "--amend", "-m", "other")
    lightci(repo, "run")

    status = lightci(repo, "status")

    assert status.stdout.endswith(": passed (run 2)\n")


def test_tree_note_names_commit(repo: Path) -> None:
    built = commit(repo, {**PASSING, "ok.txt": "yes\n"}, "first")
    lightci(repo, "run")

    tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
    note = git(repo, "notes", "--ref=lightci-trees", "show", tree).stdout
    clone_id = git(repo, "config", "lightci.id").stdout.strip()
    assert note.startswith(f"run 1 @{clone_id} passed (manual ")
    assert note.rstrip().endswith(f" commit {built}")


def test_appraise_notes_when_enabled(repo: Path) -> None:
    commit(repo, {**PASSING, "ok.txt": "yes\n"}, "first")
    lightci(repo, "run")
    absent = git(repo, "notes", "--ref=devtools/ci", "show", "HEAD", check=False)
    assert absent.returncode != 0
    git(repo, "config", "lightci.appraiseNotes", "true")
    git(repo, "config", "lightci.url", "http://127.0.0.1:8080/")

    lightci(repo, "run")
    write_files(repo, {"ok.txt": ""})
    (repo / "ok.txt").unlink()
    git(repo, "commit", "-q", "-a", "-m", "drop ok.txt")
    lightci(repo, "run", check=False)

    first = git(repo, "notes", "--ref=devtools/ci", "show", "HEAD~1").stdout
    report = json.loads(first)
    assert report["status"] == "success"
    assert report["agent"] == "lightci"
    assert report["url"] == "http://127.0.0.1:8080/runs/2"
    assert report["timestamp"].isdigit()
    assert len(report["timestamp"]) == 10
    second = git(repo, "notes", "--ref=devtools/ci", "show", "HEAD").stdout
    assert json.loads(second)["status"] == "failure"

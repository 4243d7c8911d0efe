"""The client hooks in real clones: pre-push stops failing pushes, post-commit
queues runs in the background, and both keep the hooks that were there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Server, git, lightci, wait_idle, write_files

PIPELINE = {
    ".lightci.yml": """\
        jobs:
          check:
            steps:
              - run: |
                  echo "value=$(cat value.txt)"
                  env | grep '^GIT_' || echo "no git variables"
                  test "$(cat value.txt)" = good
        """,
}


def clone(server: Server, name: str) -> Path:
    path = server.git_dir.parent / name
    git(server.git_dir.parent, "clone", "-q", str(server.git_dir), str(path))
    return path


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    write_files(repo, files)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def show(repo: Path, run_id: str) -> dict:
    return json.loads(lightci(repo, "show", run_id, "--json").stdout)


def server_has(server: Server, ref: str) -> bool:
    result = git(server.git_dir, "rev-parse", "--verify", "-q", ref, check=False)
    return result.returncode == 0


def test_failing_pre_push_stops_push(server: Server) -> None:
    repo = clone(server, "alice")
    lightci(repo, "install", "--no-post-commit")
    clone_id = git(repo, "config", "lightci.id").stdout.strip()
    commit(repo, {**PIPELINE, "value.txt": "bad\n"})

    pushed = git(repo, "push", "origin", "HEAD:refs/heads/main", check=False)

    assert pushed.returncode != 0
    assert "lightci: run 1 failed" in pushed.stderr
    assert "git push --no-verify" in pushed.stderr
    assert "value=bad" in pushed.stderr
    assert not server_has(server, "main")
    record = show(repo, "1")
    assert record["status"] == "failed"
    assert record["event"] == "pre-push"
    assert record["origin"] == clone_id
    note = git(repo, "notes", "--ref=lightci", "show", "HEAD").stdout
    assert note.startswith(f"run 1 @{clone_id} failed (pre-push main")

    skipped = git(repo, "push", "--no-verify", "origin", "HEAD:refs/heads/main")

    assert "value=" not in skipped.stderr
    assert len(json.loads(lightci(repo, "log", "--json").stdout)) == 1
    assert server_has(server, "main")
    server.wait_idle()


def test_pre_push_leaves_checkout_alone(server: Server) -> None:
    repo = clone(server, "alice")
    lightci(repo, "install", "--no-post-commit")
    first = commit(repo, {**PIPELINE, "value.txt": "good\n"}, "first")
    write_files(repo, {"value.txt": "bad\n", "staged.txt": "staged\n"})
    git(repo, "add", "staged.txt")
    git(repo, "stash", "push", "-q", "--", "staged.txt")
    git(repo, "add", "value.txt")
    write_files(repo, {"untracked.txt": "loose\n"})
    before = git(repo, "status", "--porcelain").stdout
    stash_before = git(repo, "stash", "list").stdout
    index_before = git(repo, "diff", "--cached").stdout

    pushed = git(repo, "push", "origin", "HEAD:refs/heads/main")

    assert "lightci: run 1 passed" in pushed.stderr
    assert "value=good" in pushed.stderr
    assert "no git variables" in pushed.stderr
    assert git(repo, "status", "--porcelain").stdout == before
    assert git(repo, "stash", "list").stdout == stash_before
    assert git(repo, "diff", "--cached").stdout == index_before
    assert git(repo, "worktree", "list").stdout.count("\n") == 1
    assert server_has(server, "main")
    server.wait_idle()

    git(repo, "commit", "-q", "--amend", "--only", "-m", "same tree, new message")
    again = git(repo, "push", "-f", "origin", "HEAD:refs/heads/main")

    assert f"already passed (run 1, built as commit {first[:10]})" in again.stderr
    assert json.loads(lightci(repo, "log", "--json").stdout)[0]["number"] == 1
    assert len(json.loads(lightci(repo, "log", "--json").stdout)) == 1
    server.wait_idle()


def test_previous_pre_push_still_runs(server: Server, tmp_path: Path) -> None:
    repo = clone(server, "alice")
    seen = tmp_path / "previous-input"
    allow = tmp_path / "allow"
    hook = repo / ".git" / "hooks" / "pre-push"
    original = (
        f'#!/bin/sh\necho "$1" >> {seen}\ncat >> {seen}\n'
        f'test -f {allow} || {{ echo "previous hook says no" >&2; exit 7; }}\n'
    )
    hook.write_text(original)
    hook.chmod(0o755)
    lightci(repo, "install", "--no-post-commit")
    lightci(repo, "install", "--no-post-commit")
    pushed_commit = commit(repo, {**PIPELINE, "value.txt": "good\n"})

    stopped = git(repo, "push", "origin", "HEAD:refs/heads/main", check=False)

    assert stopped.returncode != 0
    assert "previous hook says no" in stopped.stderr
    assert "pre-push.before-lightci failed (exit 7)" in stopped.stderr
    assert "lightci: run" not in stopped.stderr
    assert not server_has(server, "main")

    allow.touch()
    pushed = git(repo, "push", "origin", "HEAD:refs/heads/main")

    assert "lightci: run 1 passed" in pushed.stderr
    assert f"HEAD {pushed_commit} refs/heads/main" in seen.read_text()
    assert seen.read_text().startswith("origin\n")
    server.wait_idle()

    lightci(repo, "uninstall")
    assert hook.read_text() == original
    assert not hook.with_name("pre-push.before-lightci").exists()
    assert not hook.with_name("post-commit").exists()


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_hooks_path_honoured(server: Server, tmp_path: Path, where: str) -> None:
    repo = clone(server, "alice")
    if where == "relative":
        hooks = repo / ".githooks"
        git(repo, "config", "core.hooksPath", ".githooks")
    else:
        hooks = tmp_path / "shared-hooks"
        git(repo, "config", "core.hooksPath", str(hooks))

    installed = lightci(repo, "install")

    warned = "outside this repository" in installed.stderr
    assert warned == (where == "absolute")
    assert not (repo / ".git" / "hooks" / "pre-push").exists()
    for name in ("pre-push", "post-commit"):
        data = (hooks / name).read_bytes()
        assert b"\r" not in data
        assert data.startswith(b"#!/bin/sh\n")
        assert b"installed by `lightci install" in data
        assert os.access(hooks / name, os.X_OK)
    git(repo, "config", "core.hooksPath", str(hooks))  # absolute from here on
    commit(repo, {**PIPELINE, "value.txt": "bad\n"})
    wait_idle(repo / ".git")

    pushed = git(repo, "push", "origin", "HEAD:refs/heads/main", check=False)

    assert pushed.returncode != 0
    assert "failed; the push is stopped" in pushed.stderr
    lightci(repo, "uninstall")
    assert not (hooks / "pre-push").exists()
    assert not (hooks / "post-commit").exists()


def test_post_commit_queues_in_background(server: Server, tmp_path: Path) -> None:
    repo = clone(server, "alice")
    lightci(repo, "install", "--no-pre-push")
    clone_id = git(repo, "config", "lightci.id").stdout.strip()
    gate = tmp_path / "gate"
    pipeline = {
        ".lightci.yml": f"""\
            jobs:
              wait:
                steps:
                  - run: |
                      for i in $(seq 600); do
                        test -f {gate} && exit 0
                        sleep 0.1
                      done
                      exit 1
            """
    }
    write_files(repo, {"scratch.txt": "not committed\n"})
    before = git(repo, "status", "--porcelain").stdout

    committed = commit(repo, pipeline, "add pipeline")

    record = show(repo, "1")
    assert record["status"] in ("queued", "running")
    assert record["event"] == "post-commit"
    assert record["origin"] == clone_id
    assert record["commit"] == committed
    assert git(repo, "status", "--porcelain").stdout == before
    gate.touch()
    wait_idle(repo / ".git")
    assert show(repo, "1")["status"] == "passed"
    assert git(repo, "status", "--porcelain").stdout == before
    assert git(repo, "worktree", "list").stdout.count("\n") == 1


def test_install_in_bare_repository_rejected(server: Server) -> None:
    result = lightci(server.git_dir, "install", check=False)

    assert result.returncode == 1
    assert "lightci install --server" in result.stderr


def test_tag_push_not_skipped_by_branch_pass(server: Server) -> None:
    repo = clone(server, "tagger")
    lightci(repo, "install", "--no-post-commit")
    commit(
        repo,
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    steps: [echo build]
                  release:
                    if: startsWith(ref, 'refs/tags/')
                    steps: [exit 1]
                """
        },
    )
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    server.wait_idle()
    git(repo, "tag", "v2")

    pushed = git(repo, "push", "origin", "v2", check=False)

    assert pushed.returncode != 0
    assert "already passed" not in pushed.stderr
    assert "lightci: run 2 failed" in pushed.stderr
    assert not server_has(server, "refs/tags/v2")
    server.wait_idle()

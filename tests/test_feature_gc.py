"""``lightci gc``: runs and artifacts past retention go, and git gc reclaims them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pygit2
from conftest import Server, git

from lightci.gc import collect
from lightci.store import Store

ARTIFACT_PIPELINE = """\
    jobs:
      build:
        steps: ['head -c 300000 /dev/urandom > out.bin']
        artifacts:
          paths: [out.bin]
          expire-in: {expiry}
    """


def repository_size(git_dir: Path) -> int:
    counts = {}
    for line in git(git_dir, "count-objects", "-v").stdout.splitlines():
        key, _, value = line.partition(": ")
        counts[key] = int(value)
    return (counts["size-pack"] + counts["size"]) * 1024


def push_runs(server: Server, count: int, expiry: str) -> list[str]:
    commits = []
    for index in range(count):
        files = {".lightci.yml": ARTIFACT_PIPELINE.format(expiry=expiry)}
        files["n"] = f"{index}\n"
        commits.append(server.commit(files))
        server.push()
        server.wait_idle()
    return commits


def test_gc_keep_runs_shrinks_repository(server: Server) -> None:
    commits = push_runs(server, 3, "never")
    git(server.git_dir, "gc", "-q", "--prune=now")
    before = repository_size(server.git_dir)
    git(server.git_dir, "config", "lightci.keepRuns", "1")

    dry = server.lightci("gc", "--dry-run")
    assert "would remove run 1 (beyond the newest 1)" in dry.stdout
    assert git(server.git_dir, "rev-parse", "refs/lightci/runs/1").returncode == 0
    removed = server.lightci("gc", "--prune")
    after = repository_size(server.git_dir)

    assert "removed run 1 (beyond the newest 1)" in removed.stdout
    assert "removed run 2 (beyond the newest 1)" in removed.stdout
    assert "ran git gc --prune=now while no worker was running" in removed.stdout
    refs = git(server.git_dir, "for-each-ref", "--format=%(refname)").stdout
    assert "refs/lightci/runs/1\n" not in refs
    assert "refs/lightci/artifacts/1/" not in refs
    assert "refs/lightci/runs/3" in refs
    assert "refs/lightci/artifacts/3/out.bin" in refs
    assert after < before - 500_000
    note = git(server.git_dir, "notes", "--ref=lightci", "show", commits[0]).stdout
    assert note.startswith("run 1 passed")
    log = json.loads(server.lightci("log", "--json").stdout)
    assert [item["number"] for item in log] == [3]
    assert git(server.git_dir, "fsck", "--strict").returncode == 0


def test_gc_drops_expired_artifacts(server: Server) -> None:
    push_runs(server, 1, "1s")
    time.sleep(1.5)

    removed = server.lightci("gc")

    assert "removed artifact 1/out.bin (expired " in removed.stdout
    assert "refs/lightci/runs/1" in git(server.git_dir, "for-each-ref").stdout
    assert "refs/lightci/artifacts/" not in git(server.git_dir, "for-each-ref").stdout
    again = server.lightci("gc")
    assert again.stdout.strip() == "nothing to remove"


def test_gc_retention_days(server: Server) -> None:
    push_runs(server, 1, "never")
    git(server.git_dir, "config", "lightci.retentionDays", "0.00001")
    time.sleep(1.5)

    removed = server.lightci("gc")

    assert "removed run 1 (finished " in removed.stdout
    assert "refs/lightci/" not in git(server.git_dir, "for-each-ref").stdout


def test_gc_prunes_old_number_claims(tmp_path: Path) -> None:
    git_dir = tmp_path / "repo.git"
    pygit2.init_repository(str(git_dir), bare=True)
    store = Store.open(git_dir)
    numbers = store.state_dir / "numbers"
    numbers.mkdir(parents=True)
    for number in range(1, 1501):
        (numbers / str(number)).touch()
    (store.state_dir / "next-run").write_text("1501\n")

    lines = collect(store)

    assert lines == ["499 run number claims up to 499"]
    assert not (numbers / "499").exists()
    assert (numbers / "500").exists()
    assert store.allocate_number() == 1501


def test_gc_keeps_claims_without_counter(tmp_path: Path) -> None:
    git_dir = tmp_path / "repo.git"
    pygit2.init_repository(str(git_dir), bare=True)
    store = Store.open(git_dir)
    numbers = store.state_dir / "numbers"
    numbers.mkdir(parents=True)
    for number in range(1, 1201):
        (numbers / str(number)).touch()

    assert collect(store) == []
    assert len(list(numbers.iterdir())) == 1200

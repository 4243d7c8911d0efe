"""Caches: folders kept between runs under a key computed from file contents."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import Server

from lightci.cache import CacheStore, cache_key, hash_files

PIPELINE = """\
    jobs:
      deps:
        cache:
          key: deps-${{ hashFiles('requirements*.txt') }}
          paths: [vendor]
        steps:
          - run: |
              if [ -f vendor/installed ]; then
                echo "reused the install of run $(cat vendor/run)"
              else
                mkdir -p vendor
                echo "cache-$((6 * 7))-payload" > vendor/installed
                echo "$LIGHTCI_RUN" > vendor/run
                echo fresh install
              fi
    """


def show_json(server: Server, number: int) -> dict:  # type: ignore[type-arg]
    return json.loads(server.lightci("show", str(number), "--json").stdout)


def test_cache_hit_then_miss_on_new_key(server: Server) -> None:
    server.commit({".lightci.yml": PIPELINE, "requirements.txt": "click\n"})
    server.push()
    server.wait_idle()
    server.commit({"README.md": "docs\n"}, "unrelated change")
    server.push()
    server.wait_idle()
    server.commit({"requirements-dev.txt": "pytest\n"}, "new requirement")
    server.push()
    server.wait_idle()

    first = server.lightci("logs", "1", "deps").stdout
    second = server.lightci("logs", "2", "deps").stdout
    third = server.lightci("logs", "3", "deps").stdout
    assert "cache miss deps-" in first
    assert "fresh install" in first
    assert "cache saved deps-" in first
    assert "cache hit deps-" in second
    assert "reused the install of run 1" in second
    assert "cache saved" not in second
    assert "cache miss deps-" in third
    assert "fresh install" in third
    key_one = first.split("cache miss ")[1].split("]")[0]
    key_three = third.split("cache miss ")[1].split("]")[0]
    assert key_one != key_three
    assert all(show_json(server, n)["status"] == "passed" for n in (1, 2, 3))

    entries = server.git_dir / "lightci" / "cache" / "entries"
    assert len(list(entries.iterdir())) == 2
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=server.git_dir,
        capture_output=True,
        check=True,
    ).stdout
    assert b"cache-42-payload" not in objects


def test_failed_job_saves_no_cache(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    cache: {key: build-cache, paths: [out]}
                    steps:
                      - run: mkdir -p out; echo partial > out/file; exit 1
                """
        }
    )
    server.push()
    server.wait_idle()

    log = server.lightci("logs", "1", "build").stdout
    assert "cache miss build-cache" in log
    assert "cache saved" not in log
    entries = server.git_dir / "lightci" / "cache" / "entries"
    assert not entries.exists() or not list(entries.iterdir())


def test_hash_files_covers_paths_and_contents(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("a\n")
    first = hash_files(tmp_path, ["requirements*.txt"])
    (tmp_path / "requirements.txt").write_text("b\n")
    changed = hash_files(tmp_path, ["requirements*.txt"])
    (tmp_path / "requirements.txt").rename(tmp_path / "requirements-x.txt")
    renamed = hash_files(tmp_path, ["requirements*.txt"])

    assert len({first, changed, renamed}) == 3
    assert hash_files(tmp_path, ["nothing*"]) == ""
    key = cache_key("k-${{ hashFiles('requirements*.txt', \"x\") }}-end", tmp_path)
    assert key == f"k-{renamed}-end"


def test_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "blob").write_bytes(b"x" * 600)
    cache = CacheStore(tmp_path / "cache", limit=1500)

    assert cache.save("one", ["data"], workspace) == 600
    assert cache.save("two", ["data"], workspace) == 600
    old = time.time() - 100
    os.utime(cache.entry("two") / "meta.json", (old, old))
    os.utime(cache.entry("one") / "meta.json", (old + 10, old + 10))
    assert cache.restore("two", tmp_path / "restored")
    assert cache.save("three", ["data"], workspace) == 600

    assert cache.entry("two").exists()
    assert cache.entry("three").exists()
    assert not cache.entry("one").exists()
    assert (tmp_path / "restored" / "data" / "blob").read_bytes() == b"x" * 600


def test_cache_second_save_of_key_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "file").write_text("first\n")
    cache = CacheStore(tmp_path / "cache", limit=10**6)

    assert cache.save("key", ["data"], workspace) is not None
    (workspace / "data" / "file").write_text("second\n")
    assert cache.save("key", ["data"], workspace) is None

    target = tmp_path / "restored"
    assert cache.restore("key", target)
    assert (target / "data" / "file").read_text() == "first\n"
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []

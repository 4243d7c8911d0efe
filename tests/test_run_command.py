"""``lightci run``: the pipeline in the foreground, streamed, recorded."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_all, git, lightci, write_files


def make_clone(tmp_path: Path, pipeline: str) -> Path:
    clone = tmp_path / "project"
    git(tmp_path, "init", "-q", str(clone))
    write_files(clone, {".lightci.yml": pipeline})
    commit_all(clone, "add pipeline")
    return clone


def test_run_streams_without_colour_when_piped(tmp_path: Path) -> None:
    clone = make_clone(
        tmp_path,
        """\
        jobs:
          build:
            steps:
              - run: printf '\\033[32mgreen\\033[0m\\n'; printf 'no-newline'
        """,
    )

    result = lightci(clone, "run")

    assert "\x1b" not in result.stdout
    assert "[build] green" in result.stdout
    assert "[build] no-newline" in result.stdout
    assert "run 1 passed" in result.stderr
    stored = git(clone, "cat-file", "blob", "refs/lightci/runs/1:logs/build.log")
    assert "\x1b[32mgreen" in stored.stdout


def test_run_exit_status_follows_result(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, "jobs:\n  broken:\n    steps: ['exit 4']\n")

    result = lightci(clone, "run", check=False)

    assert result.returncode == 1
    assert "run 1 failed" in result.stderr
    record = json.loads(lightci(clone, "show", "1", "--json").stdout)
    assert record["event"] == "manual"
    assert record["jobs"][0]["steps"][0]["exit_code"] == 4
    assert git(clone, "status", "--porcelain").stdout == ""

"""The advanced example project passes when pushed, on main and on a release branch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import Server, commit_all

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "advanced-pipeline"


def show_json(server: Server, number: int) -> dict[str, Any]:
    return json.loads(server.lightci("show", str(number), "--json").stdout)


def test_advanced_example_passes(server: Server) -> None:
    shutil.copytree(EXAMPLE, server.clone, dirs_exist_ok=True)
    commit_all(server.clone, "wordcount example")
    server.push("HEAD:refs/heads/main")
    server.wait_idle(timeout=180)
    server.push("HEAD:refs/heads/release/1.0")
    server.wait_idle(timeout=180)

    main = show_json(server, 1)
    jobs = {job["name"]: job for job in main["jobs"]}
    assert main["status"] == "passed", server.lightci("logs", "1").stdout
    assert sorted(name for name in jobs if name.startswith("test ")) == [
        "test (cli, error)",
        "test (core, default)",
        "test (core, error)",
    ]
    assert jobs["package"]["status"] == "passed"
    assert jobs["release"]["status"] == "skipped"
    assert jobs["report-failure"]["status"] == "skipped"
    assert jobs["strict-typing"]["status"] in ("passed", "failed")
    artifacts = server.lightci("artifacts", "1").stdout
    assert "dist/wordcount.tar.gz" in artifacts
    assert "dist/SHA256SUMS" in artifacts

    release = show_json(server, 2)
    release_jobs = {job["name"]: job for job in release["jobs"]}
    assert release["status"] == "passed"
    assert release_jobs["release"]["status"] == "passed"
    log = server.lightci("logs", "2", "test (core, error)").stdout
    assert "cache hit deps-" in log
    assert "dependencies come from the cache" in log

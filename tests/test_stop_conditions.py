"""Which jobs and steps run, and what is recorded, when a run stops early."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import Server, git


def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def jobs_of(server: Server, number: int) -> dict[str, dict]:
    record = json.loads(server.lightci("show", str(number), "--json").stdout)
    return {job["name"]: job for job in record["jobs"]}


def test_always_and_cancelled_run_after_cancel(server: Server, tmp_path: Path) -> None:
    started = tmp_path / "started"
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  slow:
                    steps:
                      - run: touch {started}; sleep 300
                      - run: echo step-cleanup
                        if: always()
                      - run: echo never
                  on-cancel:
                    needs: slow
                    if: cancelled()
                    steps: [echo job-on-cancel]
                  on-always:
                    needs: slow
                    if: always()
                    steps: [echo job-on-always]
                  plain:
                    needs: slow
                    steps: [echo plain]
                """
        }
    )
    server.push()
    wait_for_file(started)

    server.lightci("cancel", "1")
    server.wait_idle(timeout=60)

    record = json.loads(server.lightci("show", "1", "--json").stdout)
    assert record["status"] == "cancelled"
    assert record["message"].startswith("the run was cancelled")
    jobs = {job["name"]: job for job in record["jobs"]}
    slow_steps = [step["status"] for step in jobs["slow"]["steps"]]
    assert slow_steps == ["cancelled", "passed", "skipped"]
    assert jobs["on-cancel"]["status"] == "passed"
    assert jobs["on-always"]["status"] == "passed"
    assert jobs["plain"]["status"] == "skipped"
    logs = server.lightci("logs", "1").stdout
    assert "step-cleanup" in logs
    assert "job-on-cancel" in logs
    assert "job-on-always" in logs
    assert "[lightci: step cancelled]" in logs


def test_tag_is_empty_on_branch_push(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  tagged:
                    if: tag != ''
                    steps: [echo tagged]
                  untagged:
                    if: tag == '' && branch == 'main'
                    steps: [echo untagged]
                """
        }
    )
    server.push()
    server.wait_idle()

    jobs = jobs_of(server, 1)
    assert jobs["tagged"]["status"] == "skipped"
    assert jobs["untagged"]["status"] == "passed"


def test_run_time_limit_marks_jobs_timed_out(server: Server) -> None:
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.commit(
        {
            ".lightci.yml": """\
                timeout: 2s
                jobs:
                  long:
                    steps: [sleep 300]
                  later:
                    needs: long
                    steps: [echo later]
                """
        }
    )
    server.push()
    server.wait_idle(timeout=60)

    record = json.loads(server.lightci("show", "1", "--json").stdout)
    jobs = {job["name"]: job for job in record["jobs"]}
    assert record["status"] == "timed-out"
    assert record["message"] == "the run's time limit of 2s passed"
    assert jobs["long"]["status"] == "timed-out"
    assert jobs["long"]["reason"] == "the run's time limit of 2s passed"
    assert jobs["later"]["status"] == "skipped"
    assert "time limit of 2s passed" in jobs["later"]["reason"]


def test_signal_exit_reported_by_name(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  killed:\n    steps: ['kill -9 $$']\n"})
    server.push()
    server.wait_idle()

    job = jobs_of(server, 1)["killed"]
    assert job["status"] == "failed"
    assert job["steps"][0]["exit_code"] == 137
    assert (
        "step killed by SIGKILL (exit code 137)" in server.lightci("logs", "1").stdout
    )

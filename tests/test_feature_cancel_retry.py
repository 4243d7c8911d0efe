"""Cancel, retry and concurrency groups, driven through real pushes."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from conftest import Server, alive, git, wait_for


def show_json(server: Server, number: int) -> dict[str, Any]:
    return json.loads(server.lightci("show", str(number), "--json").stdout)


def jobs_by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in record["jobs"]}


def read_pid(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip().isdigit())
    return int(path.read_text())


def run_status(server: Server, number: int) -> str:
    result = server.lightci("show", str(number), "--json", check=False)
    if result.returncode != 0:
        return "missing"
    return str(json.loads(result.stdout)["status"])


def test_cancel_running_run_stops_processes(server: Server, tmp_path: Path) -> None:
    git(server.git_dir, "config", "lightci.killGrace", "2")
    step_pid = tmp_path / "step.pid"
    child_pid = tmp_path / "grandchild.pid"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  slow:
                    steps:
                      - run: |
                          echo $$ > {step_pid}
                          sh -c 'sleep 300 & echo $! > {child_pid}; wait'
                      - run: echo never
                  after:
                    needs: slow
                    steps: [echo never either]
                """
        }
    )
    server.push()
    step = read_pid(step_pid)
    grandchild = read_pid(child_pid)

    cancelled = server.lightci("cancel", "1")
    server.wait_idle(timeout=60)

    assert cancelled.stdout.strip() == "run 1: cancelling; its jobs are being stopped"
    record = show_json(server, 1)
    jobs = jobs_by_name(record)
    assert record["status"] == "cancelled"
    assert jobs["slow"]["status"] == "cancelled"
    assert jobs["slow"]["steps"][0]["status"] == "cancelled"
    assert jobs["slow"]["steps"][1]["status"] == "skipped"
    assert jobs["after"]["status"] == "skipped"
    assert not alive(step)
    assert not alive(grandchild)
    again = server.lightci("cancel", "1", check=False)
    assert again.returncode == 1
    assert "run 1 already finished (cancelled)" in again.stderr


def test_cancel_queued_run(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  wait:
                    steps: ['touch {marker}.$LIGHTCI_RUN; sleep 300']
                """
        }
    )
    server.push("HEAD:refs/heads/main")
    wait_for(Path(f"{marker}.1").exists)
    server.push("HEAD:refs/heads/second")

    queued = server.lightci("cancel", "2")
    server.lightci("cancel", "1")
    server.wait_idle(timeout=60)

    assert queued.stdout.strip() == "run 2: cancelled before it started"
    record = show_json(server, 2)
    assert record["status"] == "cancelled"
    assert record["started"] is None
    assert not Path(f"{marker}.2").exists()
    assert not (server.git_dir / "lightci" / "queue" / "2").exists()
    assert show_json(server, 1)["status"] == "cancelled"


def test_cancel_unknown_run(server: Server) -> None:
    result = server.lightci("cancel", "9", check=False)
    assert result.returncode == 1
    assert "run 9 not found" in result.stderr


def test_retry_queues_same_commit(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    commit = server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  flaky:
                    steps:
                      - run: echo x >> {counter}; test "$(wc -l < {counter})" -ge 2
                """
        }
    )
    server.push()
    server.wait_idle()
    assert show_json(server, 1)["status"] == "failed"

    retried = server.lightci("retry", "1")
    server.wait_idle()

    assert retried.stdout.strip() == "run 2 queued: retry of run 1"
    record = show_json(server, 2)
    assert record["status"] == "passed"
    assert record["event"] == "retry"
    assert record["commit"] == commit
    assert record["ref"] == "refs/heads/main"


def test_retry_failed_runs_only_failed_jobs(server: Server, tmp_path: Path) -> None:
    runs_of_a = tmp_path / "a"
    runs_of_b = tmp_path / "b"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  a:
                    steps: ['echo x >> {runs_of_a}']
                  b:
                    steps:
                      - run: echo x >> {runs_of_b}; test "$(wc -l < {runs_of_b})" -ge 2
                  c:
                    needs: [a, b]
                    steps: [echo after both]
                  d:
                    needs: a
                    steps: [echo after a]
                """
        }
    )
    server.push()
    server.wait_idle()
    first = jobs_by_name(show_json(server, 1))
    assert first["b"]["status"] == "failed"
    assert first["c"]["status"] == "skipped"

    retried = server.lightci("retry", "1", "--failed")
    server.wait_idle()

    assert "run 2 queued" in retried.stdout
    record = show_json(server, 2)
    jobs = jobs_by_name(record)
    assert record["status"] == "passed"
    assert jobs["a"]["status"] == "skipped"
    assert jobs["a"]["reason"] == "passed in run 1"
    assert jobs["d"]["status"] == "skipped"
    assert jobs["d"]["reason"] == "passed in run 1"
    assert jobs["b"]["status"] == "passed"
    assert jobs["c"]["status"] == "passed"
    assert runs_of_a.read_text() == "x\n"
    assert runs_of_b.read_text() == "x\nx\n"

    nothing = server.lightci("retry", "2", "--failed", check=False)
    assert nothing.returncode == 1
    assert "nothing to retry" in nothing.stderr


def test_retry_of_running_run_is_rejected(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    server.commit(
        {".lightci.yml": f"jobs:\n  a:\n    steps: ['touch {marker}; sleep 300']\n"}
    )
    server.push()
    wait_for(marker.exists)

    result = server.lightci("retry", "1", check=False)
    server.lightci("cancel", "1")
    server.wait_idle(timeout=60)

    assert result.returncode == 1
    assert "still running" in result.stderr


def test_concurrency_cancels_run_in_progress(server: Server, tmp_path: Path) -> None:
    git(server.git_dir, "config", "lightci.killGrace", "1")
    marker = tmp_path / "started"
    server.commit(
        {
            ".lightci.yml": f"""\
                concurrency:
                  group: ci-${{{{ branch }}}}
                  cancel-in-progress: true
                jobs:
                  build:
                    steps:
                      - run: |
                          touch {marker}.$LIGHTCI_RUN
                          if [ "$(cat mode)" = slow ]; then sleep 300; fi
                """,
            "mode": "slow\n",
        }
    )
    server.push()
    wait_for(Path(f"{marker}.1").exists)
    server.commit({"mode": "fast\n"}, "fast now")
    second = server.push()
    server.wait_idle(timeout=60)

    assert "run 2 queued for main" in second.stderr
    assert "run 1: cancelling" in second.stderr
    assert show_json(server, 1)["status"] == "cancelled"
    assert show_json(server, 2)["status"] == "passed"
    groups = json.loads((server.git_dir / "lightci" / "groups" / "2").read_text())
    assert groups["groups"] == [{"key": "ci-main", "cancel": True}]


def test_concurrency_other_group_keeps_running(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    server.commit(
        {
            ".lightci.yml": f"""\
                concurrency: {{group: "ci-${{{{ branch }}}}", cancel-in-progress: true}}
                jobs:
                  build:
                    steps: ['touch {marker}.$LIGHTCI_RUN; sleep 2']
                """
        }
    )
    server.push("HEAD:refs/heads/main")
    wait_for(Path(f"{marker}.1").exists)
    other = server.push("HEAD:refs/heads/topic")
    server.wait_idle(timeout=60)

    assert "cancel" not in other.stderr
    assert show_json(server, 1)["status"] == "passed"
    assert show_json(server, 2)["status"] == "passed"


def test_concurrency_queued_run_is_replaced(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  build:
                    concurrency:
                      group: deploy
                      cancel-in-progress: true
                    steps: ['touch {marker}.$LIGHTCI_RUN; sleep 1']
                """
        }
    )
    # Three pushes while the worker is held back: each one replaces the
    # queued run before it.
    lock = server.git_dir / "lightci" / "worker.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        server.push("HEAD:refs/heads/one")
        second = server.push("HEAD:refs/heads/two")
        third = server.push("HEAD:refs/heads/three")
    finally:
        os.close(fd)
    server.lightci("worker")
    server.wait_idle(timeout=60)

    assert "run 1: cancelled before it started" in second.stderr
    assert "run 2: cancelled before it started" in third.stderr
    assert show_json(server, 1)["status"] == "cancelled"
    assert show_json(server, 2)["status"] == "cancelled"
    assert show_json(server, 3)["status"] == "passed"
    assert not Path(f"{marker}.1").exists()
    assert Path(f"{marker}.3").exists()


def test_job_group_runs_one_job_at_a_time(server: Server, tmp_path: Path) -> None:
    git(server.git_dir, "config", "lightci.maxParallel", "4")
    trace = tmp_path / "trace"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  deploy:
                    matrix:
                      target: [one, two, three]
                    concurrency: deploy-slot
                    steps:
                      - run: |
                          echo "start ${{{{ matrix.target }}}}" >> {trace}
                          sleep 0.5
                          echo "end ${{{{ matrix.target }}}}" >> {trace}
                """
        }
    )
    server.push()
    server.wait_idle()

    assert show_json(server, 1)["status"] == "passed"
    lines = trace.read_text().splitlines()
    assert len(lines) == 6
    for index in range(0, 6, 2):
        assert lines[index].startswith("start ")
        assert lines[index + 1] == lines[index].replace("start", "end")

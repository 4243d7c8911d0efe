"""The worker as a service, and the command line's crash path."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import LIGHTCI, Server, git


def replace_run_record(server: Server, number: int, run_json: bytes) -> None:
    """Point a run's ref at a new commit whose tree has only ``run_json``."""

    def plumbing(*args: str, data: bytes) -> str:
        return (
            subprocess.run(
                ["git", *args],
                cwd=server.git_dir,
                input=data,
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .strip()
        )

    blob = plumbing("hash-object", "-w", "--stdin", data=run_json)
    tree = plumbing("mktree", data=f"100644 blob {blob}\trun.json\n".encode())
    commit = git(server.git_dir, "commit-tree", tree, "-m", "replaced").stdout.strip()
    git(server.git_dir, "update-ref", f"refs/lightci/runs/{number}", commit)


def test_worker_service_drains_queue(server: Server) -> None:
    hook = server.git_dir / "hooks" / "post-receive"
    hook.write_text(hook.read_text().replace("setsid ", "true "))
    hook.write_text(hook.read_text().replace("nohup ", "true "))
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo served]\n"})
    server.push()
    server.commit({"more.txt": "x\n"})
    server.push()
    service = subprocess.Popen(
        [*LIGHTCI, "worker", "--poll", "0.2"],
        cwd=server.git_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        statuses: list[str] = []
        while time.monotonic() < deadline:
            out = server.lightci("log", "--json").stdout
            statuses = [run["status"] for run in json.loads(out)]
            if statuses == ["passed", "passed"]:
                break
            time.sleep(0.2)
        assert statuses == ["passed", "passed"]
        assert service.poll() is None
    finally:
        service.terminate()
        service.wait(timeout=10)


def test_corrupt_record_is_user_error(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle()
    replace_run_record(server, 1, b"{not json")

    result = server.lightci("show", "1", check=False)

    assert result.returncode == 1
    assert "a run has an invalid run.json" in result.stderr


def test_bug_exits_3_with_traceback_file(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightci.main import main
    from lightci.store import Store

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug in lightci")

    # A stand-in for a bug: no input makes lightci raise an unexpected error
    # on purpose, and the handler's job is what this test checks.
    monkeypatch.setattr(Store, "read_run", broken)
    monkeypatch.chdir(server.git_dir)

    code = main(["show", "1"])

    err = capsys.readouterr().err
    assert code == 3
    assert "internal error" in err
    crash_log = Path(err.split("the traceback is in ")[1].strip())
    assert "simulated bug in lightci" in crash_log.read_text()


def test_max_runs_runs_branches_in_parallel(server: Server, tmp_path: Path) -> None:
    git(server.git_dir, "config", "lightci.maxRuns", "2")
    gate = tmp_path / "gate"
    pipeline = (
        "jobs:\n  wait:\n    steps:\n"
        f"      - touch {tmp_path}/started-$LIGHTCI_BRANCH\n"
        f"      - 'while [ ! -e {gate} ]; do sleep 0.1; done'\n"
    )
    server.commit({".lightci.yml": pipeline})
    server.push("HEAD:refs/heads/one", "HEAD:refs/heads/two")
    try:
        deadline = time.monotonic() + 60
        started = tmp_path / "started-one", tmp_path / "started-two"
        while not all(path.exists() for path in started):
            assert time.monotonic() < deadline, "both runs never ran at once"
            time.sleep(0.1)
        out = server.lightci("log", "--json").stdout
        assert [run["status"] for run in json.loads(out)] == ["running", "running"]
    finally:
        gate.touch()
    server.wait_idle()
    out = server.lightci("log", "--json").stdout
    assert [run["status"] for run in json.loads(out)] == ["passed", "passed"]


def test_gc_prune_waits_for_worker(server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    started = tmp_path / "started"
    step = f"touch {started}; while [ ! -e {gate} ]; do sleep 0.1; done"
    server.commit({".lightci.yml": f"jobs:\n  wait:\n    steps: ['{step}']\n"})
    server.push()
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    prune = subprocess.Popen(
        [*LIGHTCI, "gc", "--prune"],
        cwd=server.git_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        assert prune.poll() is None, "git gc --prune=now ran during a run"
    finally:
        gate.touch()
    out, err = prune.communicate(timeout=120)
    assert prune.returncode == 0, err
    assert "ran git gc --prune=now while no worker was running" in out
    server.wait_idle()
    assert git(server.git_dir, "fsck", "--strict").returncode == 0
    assert (
        json.loads(server.lightci("show", "1", "--json").stdout)["status"] == "passed"
    )


def test_recovery_rewrites_stale_note(server: Server) -> None:
    from lightci.records import RUNNING
    from lightci.store import Store

    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle()
    store = Store.open(server.git_dir)
    run = store.read_run(1)
    assert run is not None
    run.status = RUNNING
    store.set_note_line(run)
    dead = subprocess.Popen(["true"])
    dead.wait()
    active = server.git_dir / "lightci" / "active"
    active.mkdir(exist_ok=True)
    (active / "1").write_text(f"{dead.pid}\n")
    stale = git(server.git_dir, "notes", "--ref=lightci", "show", run.commit).stdout
    assert stale.startswith("run 1 running")

    server.lightci("worker")

    note = git(server.git_dir, "notes", "--ref=lightci", "show", run.commit).stdout
    assert note.startswith("run 1 passed")
    assert not (active / "1").exists()


def test_newer_record_format_is_reported(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push("HEAD:refs/heads/main", "HEAD:refs/heads/other")
    server.wait_idle()
    record = git(server.git_dir, "cat-file", "blob", "refs/lightci/runs/2:run.json")
    newer = record.stdout.replace('"format": 1', '"format": 2')
    replace_run_record(server, 2, newer.encode())

    shown = server.lightci("show", "2", check=False)
    listed = server.lightci("log")

    assert shown.returncode == 1
    assert "record format 2, newer than this lightci reads (1)" in shown.stderr
    assert "#1 " in listed.stdout
    assert "#2 " not in listed.stdout
    assert "skipped: run 2 is stored in record format 2" in listed.stderr

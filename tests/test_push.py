"""A real push to a bare repository runs its pipeline and records the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import LIGHTCI, Server, alive, git, lightci, run, wait_for, wait_idle

TWO_JOBS = {
    ".lightci.yml": """\
        env:
          GREETING: hello
        jobs:
          build:
            steps:
              - name: compile
                run: |
                  mkdir -p dist
                  echo "$GREETING from $LIGHTCI_JOB" > dist/out.txt
                  echo built
            artifacts: [dist/out.txt]
          test:
            needs: build
            env:
              ANSWER: NO
            steps:
              - name: environment
                run: |
                  echo "ci=$CI run=$LIGHTCI_RUN branch=$LIGHTCI_BRANCH answer=$ANSWER"
                  echo "commit=$LIGHTCI_COMMIT ref=$LIGHTCI_REF event=$LIGHTCI_EVENT"
                  echo "workspace=$LIGHTCI_WORKSPACE"
                  dirty=$(git status --porcelain | wc -l)
                  echo "head=$(git rev-parse HEAD) dirty=$dirty"
                  env | grep '^GIT_' || echo "no git variables"
        """,
    "README.md": "a project\n",
}


def assert_no_worktrees(server: Server) -> None:
    own = git(server.git_dir, "worktree", "list").stdout.strip().splitlines()
    assert len(own) == 1
    helper = server.git_dir / "lightci" / "workspaces.git"
    left = git(helper, "worktree", "list").stdout.strip().splitlines()
    assert len(left) == 1


def show_json(server: Server, number: int) -> dict:
    return json.loads(server.lightci("show", str(number), "--json").stdout)


def test_push_runs_pipeline_and_records_it(server: Server) -> None:
    commit = server.commit(TWO_JOBS, "add pipeline")
    pushed = server.push()
    assert "lightci: run 1 queued for main" in pushed.stderr
    server.wait_idle()

    record = show_json(server, 1)
    assert record["status"] == "passed"
    assert record["commit"] == commit
    assert record["ref"] == "refs/heads/main"
    assert record["event"] == "push"
    jobs = {job["name"]: job for job in record["jobs"]}
    assert jobs["build"]["status"] == "passed"
    assert jobs["test"]["status"] == "passed"
    assert jobs["test"]["needs"] == ["build"]
    assert jobs["test"]["started"] >= jobs["build"]["finished"]
    assert jobs["build"]["steps"][0]["name"] == "compile"
    assert jobs["build"]["steps"][0]["exit_code"] == 0

    log_line = server.lightci("log").stdout
    assert "#1" in log_line
    assert "passed" in log_line
    assert "add pipeline" in log_line

    logs = server.lightci("logs", "1", "test").stdout
    assert "ci=true run=1 branch=main answer=NO" in logs
    assert f"commit={commit} ref=refs/heads/main event=push" in logs
    assert "no git variables" in logs
    assert f"head={commit} dirty=0" in logs
    workspace = logs.split("workspace=")[1].split("\n")[0]
    assert not Path(workspace).exists()

    output = server.git_dir.parent / "out.txt"
    server.lightci("artifact", "1", "dist/out.txt", "-o", str(output))
    assert output.read_text() == "hello from build\n"

    notes = git(server.git_dir, "log", "--notes=lightci", "-1", "main").stdout
    assert "run 1 passed (push main" in notes
    tag = git(
        server.git_dir, "cat-file", "-p", "refs/lightci/artifacts/1/dist/out.txt"
    ).stdout
    assert "type blob" in tag
    assert '"sha256"' in tag
    assert_no_worktrees(server)


def test_run_history_is_commit_chain(server: Server) -> None:
    server.commit(TWO_JOBS)
    server.push()
    server.wait_idle()

    messages = git(server.git_dir, "log", "--format=%s", "refs/lightci/runs/1").stdout
    lines = messages.strip().splitlines()
    assert lines[0] == "run 1: passed"
    assert lines[-1] == "run 1: queued"
    assert "run 1: running" in lines
    tree = git(
        server.git_dir, "ls-tree", "-r", "--name-only", "refs/lightci/runs/1"
    ).stdout
    assert "run.json" in tree
    assert "jobs/build.json" in tree
    assert "logs/test.log" in tree


def test_failing_step_fails_run(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  lint:
                    steps:
                      - run: echo checking; exit 3
                      - run: echo never runs
                  deploy:
                    needs: lint
                    steps: [echo deploying]
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    assert record["status"] == "failed"
    jobs = {job["name"]: job for job in record["jobs"]}
    assert jobs["lint"]["status"] == "failed"
    assert jobs["lint"]["steps"][0]["exit_code"] == 3
    assert jobs["lint"]["steps"][1]["status"] == "skipped"
    assert jobs["deploy"]["status"] == "skipped"
    assert "lint failed" in jobs["deploy"]["reason"]
    status = server.lightci("status", "main", check=False)
    assert status.returncode == 1
    assert "failed" in status.stdout
    assert "exit code 3" in server.lightci("logs", "1", "lint").stdout


def test_invalid_pipeline_records_error(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    steps:
                      - runs: make
                """
        }
    )
    pushed = server.push()
    assert "invalid" in pushed.stderr
    server.wait_idle()

    record = show_json(server, 1)
    assert record["status"] == "error"
    assert record["message"].startswith(
        ".lightci.yml:4: jobs.build.steps[0]: unknown key 'runs'"
    )
    assert "runs" in record["message"]
    notes = git(server.git_dir, "log", "--notes=lightci", "-1", "main").stdout
    assert "run 1 error" in notes
    logs = server.lightci("logs", "1").stdout
    assert logs.startswith("run 1 error: .lightci.yml:4: jobs.build.steps[0]")


def test_ten_pushes_at_once(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo one]\n"})
    commits = {}
    for index in range(10):
        git(
            server.clone,
            "checkout",
            "-q",
            "-B",
            f"branch{index}",
            "main" if index else "HEAD",
        )
        commits[f"branch{index}"] = server.commit(
            {"file.txt": f"{index}\n"}, f"commit {index}"
        )
    pushes = [
        subprocess.Popen(
            ["git", "push", "-q", "origin", f"branch{index}"],
            cwd=server.clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(10)
    ]
    for push in pushes:
        assert push.wait(timeout=120) == 0
    server.wait_idle()

    runs = json.loads(server.lightci("log", "--json").stdout)
    assert len(runs) == 10
    assert sorted(item["number"] for item in runs) == list(range(1, 11))
    assert {item["commit"] for item in runs} == set(commits.values())
    assert all(item["status"] == "passed" for item in runs)
    for branch, commit in commits.items():
        note = git(server.git_dir, "notes", "--ref=lightci", "show", commit).stdout
        assert note.startswith("run "), branch
    fsck = git(server.git_dir, "fsck", "--strict")
    assert fsck.returncode == 0


def test_killed_worker_run_finished_by_next(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "step.pid"
    server.commit(
        {
            ".lightci.yml": (
                f"jobs:\n  slow:\n    steps: ['echo $$ > {marker}; sleep 300']\n"
            )
        }
    )
    server.push()
    wait_for(marker.exists)
    wait_for(lambda: marker.read_text().strip().isdigit())
    step_pid = int(marker.read_text())
    lock = server.git_dir / "lightci" / "worker.lock"
    worker_pid = int(lock.read_text().strip())
    os.kill(worker_pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{worker_pid}").exists())

    server.lightci("worker")

    record = show_json(server, 1)
    assert record["status"] == "error"
    assert f"pid {worker_pid}" in record["message"]
    assert "lightci retry 1" in record["message"]
    assert record["jobs"][0]["status"] == "error"
    wait_for(lambda: not alive(step_pid), timeout=10)
    assert_no_worktrees(server)
    state = server.git_dir / "lightci"
    assert list((state / "active").iterdir()) == []
    assert not (state / "work" / "1").exists()


def test_timeout_stops_grandchildren(server: Server, tmp_path: Path) -> None:
    pids = tmp_path / "grandchild.pid"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  hang:
                    timeout: 2s
                    steps:
                      - run: sh -c 'sleep 300 & echo $! > {pids}; wait'
                """
        }
    )
    server.git_dir.joinpath("config")
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    job = record["jobs"][0]
    assert job["status"] == "timed-out"
    assert record["status"] == "timed-out"
    grandchild = int(pids.read_text())
    assert not alive(grandchild)


def test_background_process_does_not_hang_job(server: Server, tmp_path: Path) -> None:
    pids = tmp_path / "background.pid"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  service:
                    steps:
                      - run: sleep 300 & echo $! > {pids}; echo started
                      - run: echo next step
                """
        }
    )
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    assert record["status"] == "passed"
    assert "next step" in server.lightci("logs", "1").stdout
    assert not alive(int(pids.read_text()))


def test_broken_lightci_keeps_push_working(server: Server) -> None:
    hook = server.git_dir / "hooks" / "post-receive"
    text = hook.read_text()
    hook.write_text(text.replace("LIGHTCI_PYTHON='", "LIGHTCI_PYTHON='/nonexistent"))
    commit = server.commit(TWO_JOBS)

    pushed = server.push()

    assert pushed.returncode == 0
    assert "push itself succeeded" in pushed.stderr
    assert git(server.git_dir, "rev-parse", "main").stdout.strip() == commit


def test_install_keeps_previous_hook(server: Server, tmp_path: Path) -> None:
    lightci(server.git_dir, "uninstall", "--server")
    hook = server.git_dir / "hooks" / "post-receive"
    seen = tmp_path / "previous-hook-input"
    hook.write_text(f"#!/bin/sh\ncat > {seen}\n")
    hook.chmod(0o755)
    lightci(server.git_dir, "install", "--server")
    lightci(server.git_dir, "install", "--server")
    commit = server.commit(TWO_JOBS)

    server.push()
    server.wait_idle()

    assert commit in seen.read_text()
    assert show_json(server, 1)["status"] == "passed"
    lightci(server.git_dir, "uninstall", "--server")
    assert hook.read_text() == f"#!/bin/sh\ncat > {seen}\n"
    assert not (server.git_dir / "hooks" / "post-receive.before-lightci").exists()


def test_hook_ignores_deletions_and_other_refs(server: Server) -> None:
    server.commit(TWO_JOBS)
    server.push("HEAD:refs/heads/main", "HEAD:refs/heads/topic")
    server.wait_idle()
    assert len(server.lightci("log").stdout.splitlines()) == 2

    deleted = server.push(":refs/heads/topic")
    other = server.push("HEAD:refs/lightci/custom", "HEAD:refs/notes/other")
    server.wait_idle()

    assert "queued" not in deleted.stderr
    assert "queued" not in other.stderr
    assert len(server.lightci("log").stdout.splitlines()) == 2


def test_huge_binary_log_is_capped(server: Server) -> None:
    git(server.git_dir, "config", "lightci.maxLogSize", "4096")
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  noisy:
                    steps:
                      - run: head -c 100000 /dev/urandom; printf '\\377\\376 end'
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    job = record["jobs"][0]
    assert record["status"] == "passed"
    assert job["log_truncated"] is True
    log = subprocess.run(
        [*LIGHTCI, "logs", "1", "noisy", "--raw"],
        cwd=server.git_dir,
        capture_output=True,
        check=True,
    ).stdout
    assert b"log truncated at 4096 bytes" in log
    stored = subprocess.run(
        ["git", "cat-file", "blob", "refs/lightci/runs/1:logs/noisy.log"],
        cwd=server.git_dir,
        capture_output=True,
        check=True,
    ).stdout
    assert 4096 < len(stored) < 4096 + 300


def test_status_exit_codes(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  ok:\n    steps: [echo ok]\n"})
    none = run(
        *LIGHTCI,
        "-C",
        str(server.clone),
        "status",
        "HEAD",
        cwd=server.clone,
        check=False,
    )
    assert none.returncode == 2
    server.push()
    server.wait_idle()
    passed = server.lightci("status", "main", check=False)
    assert passed.returncode == 0
    assert "passed (run 1)" in passed.stdout


def test_unknown_run_is_user_error(server: Server) -> None:
    result = server.lightci("show", "42", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("lightci: error: run 42 not found")
    assert result.stdout == ""


def test_worker_lock_single_worker(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  ok:\n    steps: [sleep 1]\n"})
    server.push()
    time.sleep(0.3)
    second = server.lightci("worker")
    assert second.returncode == 0
    wait_idle(server.git_dir)
    assert show_json(server, 1)["status"] == "passed"


def test_job_timeout_default_from_config(server: Server) -> None:
    git(server.git_dir, "config", "lightci.jobTimeout", "1s")
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.commit({".lightci.yml": "jobs:\n  forever:\n    steps: [sleep 60]\n"})
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    assert record["status"] == "timed-out"


def test_invalid_job_timeout_config_is_error_run(server: Server) -> None:
    git(server.git_dir, "config", "lightci.jobTimeout", "soon")
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    assert record["status"] == "error"
    assert "lightci.jobTimeout" in record["message"]


def test_pushes_while_jobs_run_are_accepted(server: Server) -> None:
    jobs = "".join(f"  job{index}:\n    steps: [echo {index}]\n" for index in range(4))
    server.commit({".lightci.yml": f"jobs:\n{jobs}"})
    for index in range(30):
        git(server.clone, "commit", "-q", "--allow-empty", "-m", f"push {index}")
        pushed = server.push(check=False)
        assert pushed.returncode == 0, pushed.stderr
        assert "fatal" not in pushed.stderr
    server.wait_idle()

    runs = json.loads(server.lightci("log", "--json").stdout)
    assert len(runs) == 30
    assert {run["status"] for run in runs} == {"passed"}
    assert_no_worktrees(server)


def test_missing_lightci_package_reported(server: Server) -> None:
    hook = server.git_dir / "hooks" / "post-receive"
    text = hook.read_text()
    hook.write_text(text.replace("LIGHTCI_PACKAGE='", "LIGHTCI_PACKAGE='/gone"))
    server.commit(TWO_JOBS)

    pushed = server.push()

    assert "cannot run lightci" in pushed.stderr
    assert "no run queued" in pushed.stderr
    assert "queued for" not in pushed.stderr


def test_unwritable_numbers_folder_reported(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle()
    numbers = server.git_dir / "lightci" / "numbers"
    if run("chattr", "+i", numbers, check=False).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        git(server.clone, "commit", "-q", "--allow-empty", "-m", "again")
        pushed = subprocess.run(
            ["git", "push", "-q", "origin", "HEAD:refs/heads/main"],
            cwd=server.clone,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        run("chattr", "-i", numbers)

    assert pushed.returncode == 0
    assert "cannot create files in" in pushed.stderr
    assert "push itself succeeded" in pushed.stderr


def test_file_and_its_folder_as_artifacts(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    steps:
                      - run: mkdir -p out && echo hi > out/msg.txt
                    artifacts: [out/msg.txt, out/]
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    assert record["status"] == "passed"
    artifacts = server.lightci("artifacts", "1").stdout
    assert artifacts.startswith("out/msg.txt\t")
    assert "artifact out not stored" in server.lightci("logs", "1").stdout


def test_run_queued_behind_another_is_listed(server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    pipeline = (
        f"jobs:\n  wait:\n    steps: ['while [ ! -e {gate} ]; do sleep 0.1; done']\n"
    )
    server.commit({".lightci.yml": pipeline})
    server.push()
    git(server.clone, "checkout", "-q", "-b", "second")
    second = server.commit({"file.txt": "second\n"})
    server.push("second")
    try:
        log = server.lightci("log").stdout
        assert "#2" in log
        assert "queued" in log
        wait_for(lambda: server.git_dir.joinpath("refs/lightci/runs/2").exists())
        status = server.lightci("status", second, check=False)
        assert status.returncode == 2
        assert "queued (run 2)" in status.stdout
    finally:
        gate.touch()
    server.wait_idle()
    assert show_json(server, 2)["status"] == "passed"


def test_job_name_shown_with_substitution(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    name: Compile on ${{ branch }}
                    steps: [echo ok]
                """
        }
    )
    server.push()
    server.wait_idle()

    job = show_json(server, 1)["jobs"][0]
    assert job["name"] == "build"
    assert job["display_name"] == "Compile on main"
    assert "Compile on main" in server.lightci("show", "1").stdout


def test_matrix_artifacts_named_by_job(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  build:
                    matrix:
                      python: ["3.11", "3.12"]
                    steps:
                      - run: echo ${{ matrix.python }} > version.txt
                    artifacts: [version.txt]
                """
        }
    )
    server.push()
    server.wait_idle()

    listing = server.lightci("artifacts", "1").stdout
    names = sorted(line.split("\t")[0] for line in listing.splitlines())
    assert names == ["build-3.11/version.txt", "build-3.12/version.txt"]
    output = server.git_dir.parent / "v.txt"
    server.lightci("artifact", "1", "build-3.12/version.txt", "-o", str(output))
    assert output.read_text() == "3.12\n"


def test_pipeline_folder_or_link_is_error(server: Server) -> None:
    folder = server.clone / ".lightci.yml"
    folder.mkdir()
    (folder / "inner.yml").write_text("jobs: {}\n")
    git(server.clone, "add", "-A")
    git(server.clone, "commit", "-q", "-m", "folder")
    pushed = server.push()
    server.wait_idle()
    assert "is a folder" in pushed.stderr
    assert show_json(server, 1)["message"] == (
        ".lightci.yml: is a folder in the commit; the pipeline must be a file"
    )

    git(server.clone, "rm", "-q", "-r", ".lightci.yml")
    (server.clone / "real.yml").write_text("jobs:\n  one:\n    steps: [echo ok]\n")
    (server.clone / ".lightci.yml").symlink_to("real.yml")
    git(server.clone, "add", "-A")
    git(server.clone, "commit", "-q", "-m", "link")
    server.push()
    server.wait_idle()
    assert "is a symbolic link" in show_json(server, 2)["message"]
    validate = lightci(server.clone, "validate", check=False)
    assert validate.returncode == 1
    assert "is a symbolic link" in validate.stderr


def test_artifact_to_missing_folder_is_user_error(server: Server) -> None:
    server.commit(TWO_JOBS)
    server.push()
    server.wait_idle()

    result = server.lightci(
        "artifact", "1", "dist/out.txt", "-o", "/nonexistent/dir/x", check=False
    )

    assert result.returncode == 1
    assert "cannot write artifact dist/out.txt to /nonexistent/dir/x" in result.stderr


def test_just_queued_run_seen_everywhere(server: Server, tmp_path: Path) -> None:
    hook = server.git_dir / "hooks" / "post-receive"
    hook.write_text(hook.read_text().replace("    setsid ", "    true "))
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo hi]\n"})
    server.push()
    server.wait_idle()
    server.commit({"second": "x\n"})
    pushed = server.push()
    assert "run 2 queued" in pushed.stderr
    assert not (server.git_dir / "refs" / "lightci" / "runs" / "2").exists()

    status = server.lightci("status", "main", check=False)
    assert status.returncode == 2
    assert "queued (run 2)" in status.stdout
    follow = subprocess.Popen(
        [*LIGHTCI, "logs", "2", "--follow"],
        cwd=server.git_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    assert follow.poll() is None
    server.lightci("worker")
    out, err = follow.communicate(timeout=60)
    assert follow.returncode == 0, err
    assert "hi" in out


def test_cancel_after_worker_died(server: Server, tmp_path: Path) -> None:
    marker = tmp_path / "step.pid"
    server.commit(
        {
            ".lightci.yml": (
                f"jobs:\n  slow:\n    steps: ['echo $$ > {marker}; sleep 300']\n"
            )
        }
    )
    server.push()
    wait_for(lambda: marker.exists() and marker.read_text().strip().isdigit())
    step_pid = int(marker.read_text())
    worker_pid = int((server.git_dir / "lightci" / "worker.lock").read_text())
    os.kill(worker_pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{worker_pid}").exists())

    cancelled = server.lightci("cancel", "1")

    assert "cancelled; its worker had stopped" in cancelled.stdout
    record = show_json(server, 1)
    assert record["status"] == "cancelled"
    assert f"pid {worker_pid}" in record["message"]
    wait_for(lambda: not alive(step_pid), timeout=10)
    assert_no_worktrees(server)


def test_annotated_tag_push_names_commit(server: Server) -> None:
    commit = server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle()
    git(server.clone, "tag", "-a", "v1.0", "-m", "release")
    tag_object = git(server.clone, "rev-parse", "v1.0").stdout.strip()

    pushed = server.push("v1.0")
    server.wait_idle()

    assert f"run 2 queued for v1.0 ({commit[:10]})" in pushed.stderr
    assert tag_object[:10] not in pushed.stderr
    record = show_json(server, 2)
    assert record["commit"] == commit
    assert record["ref"] == "refs/tags/v1.0"
    assert record["status"] == "passed"


def test_fast_path_queues_every_ref_of_push(server: Server) -> None:
    server.commit({".lightci.yml": "jobs:\n  one:\n    steps: [echo ok]\n"})
    server.push()
    server.wait_idle()
    assert list((server.git_dir / "lightci" / "pipelines").glob("*.plain"))
    server.commit({"more": "x\n"})

    pushed = server.push("HEAD:refs/heads/b1", "HEAD:refs/heads/b2", "HEAD:b3")
    server.wait_idle()

    for number, branch in ((2, "b1"), (3, "b2"), (4, "b3")):
        assert f"run {number} queued for {branch}" in pushed.stderr
        assert show_json(server, number)["ref"] == f"refs/heads/{branch}"

"""Pipeline keys on real pushes: matrix, triggers, if, retry, allow-failure, timeout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Server, git


def show_json(server: Server, number: int) -> dict[str, Any]:
    return json.loads(server.lightci("show", str(number), "--json").stdout)


def jobs_by_name(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in record["jobs"]}


def run_count(server: Server) -> int:
    return len(json.loads(server.lightci("log", "--json").stdout))


def test_matrix_with_exclusion_gives_five_jobs(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  test:
                    matrix:
                      python: ["3.10", "3.11"]
                      os: [linux, mac, bsd]
                      exclude:
                        - python: "3.10"
                          os: bsd
                    steps:
                      - run: echo "python=${{ matrix.python }} os=${{ matrix.os }}"
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    names = sorted(job["name"] for job in record["jobs"])
    assert names == [
        "test (3.10, linux)",
        "test (3.10, mac)",
        "test (3.11, bsd)",
        "test (3.11, linux)",
        "test (3.11, mac)",
    ]
    assert record["status"] == "passed"
    jobs = jobs_by_name(record)
    assert jobs["test (3.11, bsd)"]["matrix"] == {"python": "3.11", "os": "bsd"}
    log = server.lightci("logs", "1", "test (3.11, bsd)").stdout
    assert "python=3.11 os=bsd" in log


def test_path_filter_skips_docs_only_push(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                on:
                  paths-ignore: ["docs/**", "*.md"]
                jobs:
                  build:
                    steps: [echo building]
                """,
            "src/app.py": "print('app')\n",
        }
    )
    first = server.push()
    server.wait_idle()
    assert "run 1 queued for main" in first.stderr

    server.commit({"docs/guide.md": "how to\n", "README.md": "readme\n"}, "docs")
    docs_only = server.push()
    server.wait_idle()

    assert "no run for main" in docs_only.stderr
    assert "queued" not in docs_only.stderr
    assert run_count(server) == 1

    server.commit({"src/app.py": "print('app 2')\n"}, "code")
    code = server.push()
    server.wait_idle()
    assert "run 2 queued for main" in code.stderr


def test_branch_filters_pick_branches(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                on:
                  branches: [main, "release/**", "!release/old"]
                jobs:
                  build:
                    steps: [echo building]
                  release-only:
                    on:
                      branches: ["release/**"]
                    steps: [echo releasing]
                """
        }
    )
    main = server.push("HEAD:refs/heads/main")
    feature = server.push("HEAD:refs/heads/feature")
    release = server.push("HEAD:refs/heads/release/1.0")
    old = server.push("HEAD:refs/heads/release/old")
    server.wait_idle()

    assert "queued for main" in main.stderr
    assert "no run for feature" in feature.stderr
    assert "queued for release/1.0" in release.stderr
    assert "no run for release/old" in old.stderr
    runs = {
        item["ref"]: item for item in json.loads(server.lightci("log", "--json").stdout)
    }
    assert set(runs) == {"refs/heads/main", "refs/heads/release/1.0"}
    main_jobs = jobs_by_name(show_json(server, runs["refs/heads/main"]["number"]))
    release_jobs = jobs_by_name(
        show_json(server, runs["refs/heads/release/1.0"]["number"])
    )
    assert set(main_jobs) == {"build"}
    assert set(release_jobs) == {"build", "release-only"}


def test_if_on_branch_and_failure(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  test:
                    steps:
                      - run: echo testing; exit 1
                      - name: report
                        if: failure()
                        run: echo step saw the failure
                  deploy:
                    if: branch == 'main'
                    steps: [echo deploying]
                  notify:
                    needs: test
                    if: failure()
                    steps: [echo tests failed]
                  publish:
                    needs: test
                    steps: [echo publishing]
                """
        }
    )
    server.push("HEAD:refs/heads/main", "HEAD:refs/heads/topic")
    server.wait_idle()

    runs = {
        item["ref"]: item["number"]
        for item in json.loads(server.lightci("log", "--json").stdout)
    }
    main = jobs_by_name(show_json(server, runs["refs/heads/main"]))
    topic = jobs_by_name(show_json(server, runs["refs/heads/topic"]))
    assert main["test"]["status"] == "failed"
    assert main["test"]["steps"][1]["status"] == "passed"
    assert main["deploy"]["status"] == "passed"
    assert main["notify"]["status"] == "passed"
    assert main["publish"]["status"] == "skipped"
    assert topic["deploy"]["status"] == "skipped"
    assert "condition is false" in topic["deploy"]["reason"]
    assert topic["notify"]["status"] == "passed"
    log = server.lightci("logs", str(runs["refs/heads/main"]), "test").stdout
    assert "step saw the failure" in log


def test_retry_flaky_step_passes_second_attempt(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  flaky:
                    retry:
                      max: 2
                      when: [7]
                    steps:
                      - run: |
                          echo x >> {counter}
                          test "$(wc -l < {counter})" -ge 2 || exit 7
                          echo "attempt $LIGHTCI_JOB_ATTEMPT passed"
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    job = record["jobs"][0]
    assert record["status"] == "passed"
    assert job["status"] == "passed"
    assert job["attempt"] == 2
    assert counter.read_text() == "x\nx\n"
    log = server.lightci("logs", "1", "flaky").stdout
    assert "retrying, attempt 2 of 3" in log
    assert "attempt 2 passed" in log


def test_retry_skips_other_exit_codes(server: Server, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  broken:
                    retry: {{max: 3, when: [7]}}
                    steps:
                      - run: echo x >> {counter}; exit 2
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    assert record["status"] == "failed"
    assert record["jobs"][0]["attempt"] == 1
    assert counter.read_text() == "x\n"


def test_allow_failure_job_fails_run_passes(server: Server) -> None:
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  experimental:
                    allow-failure: true
                    steps: [echo trying; exit 4]
                  build:
                    steps: [echo building]
                  after:
                    needs: experimental
                    steps: [echo still runs]
                """
        }
    )
    server.push()
    server.wait_idle()

    record = show_json(server, 1)
    jobs = jobs_by_name(record)
    assert record["status"] == "passed"
    assert jobs["experimental"]["status"] == "failed"
    assert jobs["experimental"]["reason"] == "failed, but allowed to fail"
    assert jobs["after"]["status"] == "passed"
    status = server.lightci("status", "main", check=False)
    assert status.returncode == 0


def test_step_timeout_and_pipeline_timeout(server: Server) -> None:
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.commit(
        {
            ".lightci.yml": """\
                timeout: 20s
                jobs:
                  slow-step:
                    steps:
                      - run: sleep 60
                        timeout: 1s
                      - run: echo never
                  relaxed:
                    allow-failure: true
                    timeout: 1s
                    steps: [sleep 60]
                """
        }
    )
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    jobs = jobs_by_name(record)
    assert jobs["slow-step"]["status"] == "timed-out"
    assert jobs["slow-step"]["steps"][0]["status"] == "timed-out"
    assert jobs["slow-step"]["steps"][1]["status"] == "skipped"
    assert jobs["relaxed"]["status"] == "timed-out"
    assert record["status"] == "timed-out"


def test_pipeline_timeout_stops_run(server: Server) -> None:
    git(server.git_dir, "config", "lightci.killGrace", "1")
    server.commit(
        {
            ".lightci.yml": """\
                timeout: 2s
                jobs:
                  endless:
                    steps: [sleep 60]
                  later:
                    needs: endless
                    if: always()
                    steps: [echo later]
                """
        }
    )
    server.push()
    server.wait_idle(timeout=60)

    record = show_json(server, 1)
    assert record["status"] == "timed-out"
    assert jobs_by_name(record)["endless"]["status"] != "passed"

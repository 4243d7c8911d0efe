"""The viewer's routes, called through WSGI against real repositories and records."""

from __future__ import annotations

import io
import json
import logging
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes
from wsgiref.util import setup_testing_defaults

import pytest
from conftest import commit_all, git, write_files

from lightci import queue
from lightci.records import JobRecord, RunRecord, StepRecord
from lightci.store import Store
from lightci.viewer import pages
from lightci.viewer.ansi import AnsiRenderer, render_log
from lightci.viewer.app import Viewer, create_app
from lightci.viewer.badge import BADGE_COLOURS
from lightci.viewer.repos import Registry

COLOURED_LOG = (
    b"\x1b[32mgreen\x1b[0m plain\n"
    b"\x1b[1;38;5;196mbold 256\x1b[0m \x1b[38;2;10;20;30mtrue\x1b[0m\n"
    b"progress 10%\rprogress 50%\rprogress 100%\n"
    b"bad \xff\xfe bytes\n"
    b"<b>not markup</b> & done\n"
)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Viewer, path: str, *, method: str = "GET", query: str = "") -> Response:
    """Send one request to the WSGI application and collect the whole response."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    raw_path, _, inline_query = path.partition("?")
    environ.update(
        REQUEST_METHOD=method,
        # WSGI carries the decoded path as latin-1 code points of its bytes.
        PATH_INFO=unquote_to_bytes(raw_path).decode("latin-1"),
        QUERY_STRING=query or inline_query,
        SERVER_NAME="127.0.0.1",
        SERVER_PORT="8080",
        HTTP_HOST="127.0.0.1:8080",
    )
    captured: dict[str, Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = {key.lower(): value for key, value in headers}

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Response(captured["status"], captured["headers"], body)


@dataclass
class Demo:
    git_dir: Path
    store: Store
    app: Viewer
    commits: dict[str, str] = field(default_factory=dict)


def _job(
    name: str,
    status: str,
    *,
    needs: list[str] | None = None,
    exit_code: int | None = 0,
    command: str = "make",
) -> JobRecord:
    return JobRecord(
        name=name,
        slug=name,
        status=status,
        needs=needs or [],
        started="2026-01-01T12:00:01Z",
        finished="2026-01-01T12:00:31Z"
        if status not in ("running", "queued")
        else None,
        steps=[
            StepRecord(
                name=f"{name} step",
                command=command,
                status=status,
                exit_code=exit_code,
                duration=30.0 if status not in ("running", "queued") else None,
            )
        ],
    )


def _record(
    store: Store,
    tmp_path: Path,
    run: RunRecord,
    logs: dict[str, bytes] | None = None,
) -> None:
    paths = {}
    for slug, data in (logs or {}).items():
        path = tmp_path / f"log-{run.number}-{slug}"
        path.write_bytes(data)
        paths[slug] = path
    store.write_run(run, message=f"run {run.number} {run.status}", logs=paths)
    store.set_note_line(run)


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    """A bare repository with branches, 60 runs of every kind, logs and artifacts."""
    git_dir = tmp_path / "demo.git"
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(git_dir))
    git(tmp_path, "init", "-q", str(work))
    write_files(work, {"README": "demo\n"})
    commits = {"main": commit_all(work, "First commit")}
    git(work, "push", "-q", str(git_dir), "HEAD:refs/heads/main")
    git(work, "checkout", "-q", "-b", "feature/<b>")
    write_files(work, {"feature.txt": "x\n"})
    commits["feature"] = commit_all(work, "<script>alert(1)</script>")
    git(work, "push", "-q", str(git_dir), "HEAD:refs/heads/feature/<b>")
    git(work, "checkout", "-q", "-b", "release/1.x")
    write_files(work, {"release.txt": "x\n"})
    commits["release"] = commit_all(work, "Release branch")
    git(work, "push", "-q", str(git_dir), "HEAD:refs/heads/release/1.x")

    store = Store.open(git_dir)
    created = "2026-01-01T12:00:00Z"
    finished = "2026-01-01T12:01:00Z"
    # Runs 1-55 are history filler on main, alternating passed and failed.
    for number in range(1, 56):
        status = "passed" if number % 2 else "failed"
        run = RunRecord(
            number=number,
            commit=commits["main"],
            ref="refs/heads/main",
            event="push",
            status=status,
            created=created,
            started=created,
            finished=finished,
            jobs=[_job("build", status)],
        )
        store.write_run(run, message=f"run {number}")
    _record(
        store,
        tmp_path,
        _sample_run(commits["main"], 56),
        {"build": b"built\n", "test": COLOURED_LOG},
    )
    store.set_note_line(store.require_run(55))

    error = RunRecord(
        number=57,
        commit=commits["feature"],
        ref="refs/heads/feature/<b>",
        event="push",
        status="error",
        created=created,
        started=created,
        finished=finished,
        message=".lightci.yml:3: jobs.build.steps: <b>missing</b>",
    )
    _record(store, tmp_path, error)
    running = RunRecord(
        number=58,
        commit=commits["release"],
        ref="refs/heads/release/1.x",
        event="push",
        status="running",
        created=created,
        started=created,
        jobs=[_job("build", "running", exit_code=None)],
    )
    _record(store, tmp_path, running, {"build": b"started\n"})

    out = tmp_path / "out.txt"
    out.write_bytes(b"artifact bytes\n")
    store.add_artifact(
        run=56,
        job="build",
        name="out.txt",
        source=out,
        relative_path="out.txt",
        expires=None,
    )
    dist = tmp_path / "dist"
    (dist / "sub").mkdir(parents=True)
    (dist / "a.txt").write_text("alpha\n")
    (dist / "sub" / "b.bin").write_bytes(b"\x00\x01beta")
    store.add_artifact(
        run=56,
        job="build",
        name="dist",
        source=dist,
        relative_path="dist",
        expires=None,
    )
    app = create_app(Registry([git_dir]))
    return Demo(git_dir, store, app, commits)


def _sample_run(commit: str, number: int) -> RunRecord:
    return RunRecord(
        number=number,
        commit=commit,
        ref="refs/heads/main",
        event="push",
        status="failed",
        created="2026-01-01T12:00:00Z",
        started="2026-01-01T12:00:00Z",
        finished="2026-01-01T12:01:05Z",
        pipeline=".lightci.yml",
        jobs=[
            _job("build", "passed", command="make build"),
            _job("test", "failed", needs=["build"], exit_code=2, command="make test"),
            JobRecord(
                name="deploy",
                slug="deploy",
                status="skipped",
                needs=["test"],
                reason="skipped because test failed",
            ),
        ],
    )


# -- pages and their JSON twins -------------------------------------------


def test_index_lists_repository(demo: Demo) -> None:
    page = call(demo.app, "/")
    api = call(demo.app, "/api/")

    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/demo"' in page.text
    assert api.status == 200
    assert api.headers["content-type"] == "application/json"
    repository = api.json()["repositories"][0]
    assert repository["name"] == "demo"
    assert repository["runs"] == 58
    assert repository["latest_run"]["number"] == 58
    assert call(demo.app, "/api").status == 200


def test_repository_page_shows_branches(demo: Demo) -> None:
    page = call(demo.app, "/demo")
    api = call(demo.app, "/api/demo").json()

    assert page.status == 200
    branches = {item["name"]: item for item in api["branches"]}
    assert set(branches) == {"main", "feature/<b>", "release/1.x"}
    assert branches["main"]["status"] == "failed"
    assert branches["main"]["run"] == 56
    assert branches["feature/<b>"]["status"] == "error"
    assert branches["release/1.x"]["status"] == "running"
    assert api["clone_url"] == "/demo.git"
    assert "git clone http://127.0.0.1:8080/demo.git" in page.text
    assert [run["number"] for run in api["recent_runs"]][:3] == [58, 57, 56]


def test_history_pages_hold_fifty_runs(demo: Demo) -> None:
    first = call(demo.app, "/api/demo/runs").json()
    second = call(demo.app, "/api/demo/runs", query="page=2").json()
    page = call(demo.app, "/demo/runs", query="page=2")

    assert len(first["runs"]) == 50
    assert first["runs"][0]["number"] == 58
    assert first["total"] == 58
    assert first["next"] == "/api/demo/runs?page=2"
    assert first["previous"] is None
    assert [run["number"] for run in second["runs"]] == list(range(8, 0, -1))
    assert second["next"] is None
    assert second["previous"] == "/api/demo/runs?page=1"
    assert page.status == 200
    assert 'href="/demo/runs/8"' in page.text
    assert 'href="/demo/runs/9"' not in page.text
    assert call(demo.app, "/api/demo/runs", query="page=9").json()["runs"] == []


def test_history_cursor_pages_by_run_number(demo: Demo) -> None:
    first = call(demo.app, "/api/demo/runs").json()
    assert first["next_before"] == "/api/demo/runs?before=9"

    after = call(demo.app, "/api/demo/runs", query="before=9").json()
    assert [run["number"] for run in after["runs"]] == list(range(8, 0, -1))
    assert after["next_before"] is None
    bad = call(demo.app, "/api/demo/runs", query="before=x")
    assert bad.status == 400


def test_history_rejects_invalid_query(demo: Demo) -> None:
    bad_page = call(demo.app, "/api/demo/runs", query="page=zero")
    bad_status = call(demo.app, "/demo/runs", query="status=green")

    assert bad_page.status == 400
    assert "page" in bad_page.json()["error"]
    assert bad_status.status == 400
    assert "green" in bad_status.text


def test_history_filters_by_branch_and_status(demo: Demo) -> None:
    failed = call(demo.app, "/api/demo/runs", query="status=failed").json()
    feature = call(demo.app, "/api/demo/runs", query="branch=feature/%3Cb%3E").json()
    both = call(
        demo.app, "/api/demo/runs", query="branch=main&status=passed&page=1"
    ).json()
    full_ref = call(demo.app, "/api/demo/runs", query="branch=refs/heads/release/1.x")

    assert {run["status"] for run in failed["runs"]} == {"failed"}
    assert len(failed["runs"]) == 28
    assert failed["total"] is None
    assert [run["number"] for run in feature["runs"]] == [57]
    assert all(run["ref"] == "refs/heads/main" for run in both["runs"])
    assert {run["status"] for run in both["runs"]} == {"passed"}
    assert len(both["runs"]) == 28
    assert [run["number"] for run in full_ref.json()["runs"]] == [58]


def test_history_filter_paginates(demo: Demo) -> None:
    page_one = call(demo.app, "/api/demo/runs", query="branch=main").json()
    page_two = call(demo.app, "/api/demo/runs", query="branch=main&page=2").json()

    assert len(page_one["runs"]) == 50
    assert page_one["next"] == "/api/demo/runs?page=2&branch=main"
    assert [run["number"] for run in page_two["runs"]] == [6, 5, 4, 3, 2, 1]
    assert page_two["next"] is None


def test_run_page_shows_jobs_and_artifacts(demo: Demo) -> None:
    page = call(demo.app, "/demo/runs/56")
    api = call(demo.app, "/api/demo/runs/56").json()

    assert page.status == 200
    text = page.text
    for expected in (
        "Run #56",
        'id="job-build"',
        'id="job-test"',
        'id="job-deploy"',
        "make test",
        "exit 2",
        "skipped because test failed",
        'href="/demo/runs/56/artifacts/out.txt"',
        'href="/demo/runs/56/artifacts/dist?format=zip"',
        'href="/demo/commits/' + demo.commits["main"],
    ):
        assert expected in text
    assert re.search(
        r'class="needs">needs\s*<a href="/demo/runs/56#job-build">build</a>', text
    )
    # The failed job's log is on the page, the passed job's behind a link.
    assert '<span class="ansi-fg-2">green</span>' in text
    assert 'href="/demo/runs/56/jobs/build"' in text
    assert "data-events" not in text
    assert api["number"] == 56
    assert api["status"] == "failed"
    jobs = {job["name"]: job for job in api["jobs"]}
    assert jobs["test"]["needs"] == ["build"]
    assert jobs["test"]["steps"][0]["exit_code"] == 2
    assert jobs["test"]["steps"][0]["duration"] == 30.0
    assert {item["name"] for item in api["artifacts"]} == {"out.txt", "dist"}
    assert api["duration"] == 65.0


def test_running_run_page_is_live(demo: Demo) -> None:
    page = call(demo.app, "/demo/runs/58")

    assert 'data-events="/demo/runs/58/events"' in page.text
    assert 'data-job="build" data-offset="8"' in page.text


def test_error_run_shows_message(demo: Demo) -> None:
    page = call(demo.app, "/demo/runs/57")
    api = call(demo.app, "/api/demo/runs/57").json()

    assert "Why this run ended in error" in page.text
    assert ".lightci.yml:3: jobs.build.steps: &lt;b&gt;missing&lt;/b&gt;" in page.text
    assert "<b>missing</b>" not in page.text
    assert api["message"] == ".lightci.yml:3: jobs.build.steps: <b>missing</b>"


def test_queued_run_before_worker(demo: Demo) -> None:
    queue.enqueue(
        demo.store.state_dir,
        queue.QueueEntry(
            number=59,
            ref="refs/heads/main",
            old="0" * 40,
            new=demo.commits["main"],
            event="push",
        ),
    )

    page = call(demo.app, "/demo/runs/59")
    api = call(demo.app, "/api/demo/runs/59").json()

    assert page.status == 200
    assert "Waiting for a worker" in page.text
    assert api["status"] == "queued"


def test_commit_page_lists_its_runs(demo: Demo) -> None:
    short = demo.commits["main"][:8]
    page = call(demo.app, f"/demo/commits/{short}")
    api = call(demo.app, f"/api/demo/commits/{short}").json()

    assert page.status == 200
    assert "First commit" in page.text
    assert api["commit"] == demo.commits["main"]
    assert [run["number"] for run in api["runs"]] == [56, 55]


# -- logs -----------------------------------------------------------------


def test_log_page_renders_ansi(demo: Demo) -> None:
    page = call(demo.app, "/demo/runs/56/jobs/test")
    text = page.text

    assert page.status == 200
    assert '<span class="ansi-fg-2">green</span> plain' in text
    assert '<span class="ansi-bold" style="color:#ff0000">bold 256</span>' in text
    assert '<span style="color:#0a141e">true</span>' in text
    assert "progress 100%" in text
    assert "progress 10%" not in text
    assert "progress 50%" not in text
    assert "bad \ufffd\ufffd bytes" in text
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; done" in text
    assert "<b>not markup</b>" not in text


def test_log_api_and_raw(demo: Demo) -> None:
    api = call(demo.app, "/api/demo/runs/56/jobs/test").json()
    raw = call(demo.app, "/demo/runs/56/jobs/test/raw")

    assert api["name"] == "test"
    assert api["status"] == "failed"
    assert api["log"].splitlines()[0] == "green plain"
    assert "progress 100%" in api["log"]
    assert "progress 10%" not in api["log"]
    assert raw.status == 200
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert raw.body == COLOURED_LOG


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1b[31mred\x1b[39m plain", '<span class="ansi-fg-1">red</span> plain'),
        (b"\x1b[91;44mx", '<span class="ansi-fg-9 ansi-bg-4">x</span>'),
        (b"\x1b[38;5;21mx", '<span style="color:#0000ff">x</span>'),
        (b"\x1b[38;5;244mx", '<span style="color:#808080">x</span>'),
        (b"\x1b[48;2;255;0;128mx", '<span style="background-color:#ff0080">x</span>'),
        (b"\x1b[38:2::1:2:3mx", '<span style="color:#010203">x</span>'),
        (
            b"\x1b[1;3;4;9mx\x1b[22mx",
            '<span class="ansi-bold ansi-italic ansi-underline ansi-strike">x</span>'
            '<span class="ansi-italic ansi-underline ansi-strike">x</span>',
        ),
        (b"\x1b[7mx", '<span class="ansi-fg-inverse ansi-bg-inverse">x</span>'),
        (b"\x1b[2Kcleared\x1b]0;title\x07 text", "cleared text"),
        (b"a\x08b\x07c", "abc"),
        (b"tab\there", "tab\there"),
        (b"line\r\n", "line\n"),
        (b"one\rtwo\rthree\n", "three\n"),
    ],
)
def test_ansi_rendering_cases(data: bytes, expected: str) -> None:
    assert render_log(data) == expected


def test_ansi_state_crosses_lines_and_chunks() -> None:
    renderer = AnsiRenderer()

    first, used_first = renderer.render(b"\x1b[32mone\ntw")
    second, used_second = renderer.render(b"two\n")

    assert first == '<span class="ansi-fg-2">one</span>\n'
    assert used_first == 9
    assert second == '<span class="ansi-fg-2">two</span>\n'
    assert used_second == 4


# -- errors and safety ----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/nope/runs",
        "/demo/runs/999",
        "/demo/runs/56/jobs/nope",
        "/demo/runs/56/jobs/nope/raw",
        "/demo/runs/56/artifacts/nope.txt",
        "/demo/runs/56/artifacts/..%2F..%2Fconfig",
        "/demo/runs/999/artifacts/out.txt",
        "/demo/commits/0123456789abcdef",
        "/demo/commits/not-hex",
        "/demo/runs/abc",
        "/static/../app.py",
    ],
)
def test_unknown_things_are_404(demo: Demo, path: str) -> None:
    page = call(demo.app, path)
    api = call(demo.app, "/api" + path)

    assert page.status == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Traceback" not in page.text
    assert api.status == 404
    assert api.headers["content-type"] == "application/json"
    assert api.json()["status"] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_write_methods_are_405(demo: Demo, method: str) -> None:
    page = call(demo.app, "/demo/runs/56", method=method)
    api = call(demo.app, "/api/demo/runs/56", method=method)

    assert page.status == 405
    assert page.headers["allow"] == "GET, HEAD"
    assert "read-only" in page.text
    assert api.status == 405
    assert api.json()["status"] == 405


def test_head_has_no_body(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56", method="HEAD")

    assert response.status == 200
    assert response.body == b""


def test_script_commit_message_is_text(demo: Demo) -> None:
    for path in (
        "/demo/runs/57",
        "/demo/runs",
        "/demo",
        f"/demo/commits/{demo.commits['feature']}",
    ):
        text = call(demo.app, path).text
        assert "<script>alert(1)</script>" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


def test_branch_name_with_angle_bracket_is_text(demo: Demo) -> None:
    for path in ("/demo", "/demo/runs", "/demo/runs/57"):
        text = call(demo.app, path).text
        assert "feature/<b>" not in text, path
        assert "feature/&lt;b&gt;" in text, path


def test_handler_crash_is_logged_500(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pages, "run_page", explode)
    with caplog.at_level(logging.ERROR, logger="lightci.viewer"):
        page = call(demo.app, "/demo/runs/56")
        api = call(demo.app, "/api/demo/runs/56")

    assert page.status == 500
    assert "disk on fire" not in page.text
    assert "Traceback" not in page.text
    assert api.status == 500
    assert api.json()["status"] == 500
    assert "GET /demo/runs/56 failed" in caplog.text
    assert "RuntimeError: disk on fire" in caplog.text


# -- badges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "status"),
    [("main", "failed"), ("feature/%3Cb%3E", "error"), ("release/1.x", "running")],
)
def test_badge_colour_by_status(demo: Demo, branch: str, status: str) -> None:
    response = call(demo.app, f"/demo/badge/{branch}.svg")

    assert response.status == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-cache"
    assert f'fill="{BADGE_COLOURS[status]}"' in response.text
    assert f">{status}</text>" in response.text


def test_badge_passed_is_green(demo: Demo) -> None:
    run = RunRecord(
        number=60,
        commit=demo.commits["main"],
        ref="refs/heads/main",
        event="push",
        status="passed",
        started="2026-01-01T12:00:00Z",
        finished="2026-01-01T12:00:10Z",
    )
    demo.store.write_run(run, message="run 60 passed")
    demo.store.set_note_line(run)

    response = call(demo.app, "/demo/badge/main.svg")

    assert 'fill="#2da44e"' in response.text
    assert BADGE_COLOURS["passed"] == "#2da44e"
    assert BADGE_COLOURS["failed"] == "#cf222e"


def test_badge_unknown_branch_is_404(demo: Demo) -> None:
    response = call(demo.app, "/demo/badge/nope.svg")

    assert response.status == 404
    assert response.headers["content-type"] == "image/svg+xml"
    assert "unknown branch" in response.text


# -- artifacts ------------------------------------------------------------


def test_file_artifact_download(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56/artifacts/out.txt")

    assert response.status == 200
    assert response.body == b"artifact bytes\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(b"artifact bytes\n"))
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="out.txt"'
    )


def test_folder_artifact_tar(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56/artifacts/dist")

    assert response.status == 200
    assert response.headers["content-type"] == "application/gzip"
    assert 'filename="dist.tar.gz"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.body), mode="r:gz") as archive:
        names = archive.getnames()
        assert sorted(names) == ["dist", "dist/a.txt", "dist/sub", "dist/sub/b.bin"]
        alpha = archive.extractfile("dist/a.txt")
        beta = archive.extractfile("dist/sub/b.bin")
        assert alpha is not None and alpha.read() == b"alpha\n"
        assert beta is not None and beta.read() == b"\x00\x01beta"


def test_folder_artifact_zip(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56/artifacts/dist", query="format=zip")

    assert response.status == 200
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="dist.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.read("dist/a.txt") == b"alpha\n"
        assert archive.read("dist/sub/b.bin") == b"\x00\x01beta"


def test_folder_artifact_bad_format(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56/artifacts/dist", query="format=rar")

    assert response.status == 400


# -- live updates ---------------------------------------------------------


def _events(body: bytes) -> list[tuple[str, Any]]:
    events = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_events_of_finished_run_end(demo: Demo) -> None:
    response = call(demo.app, "/demo/runs/56/events", query="logs=test:0")
    events = _events(response.body)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert [name for name, _ in events] == ["log", "status", "end"]
    log = events[0][1]
    assert log["job"] == "test"
    assert log["offset"] == len(COLOURED_LOG)
    assert '<span class="ansi-fg-2">green</span>' in log["html"]
    status = events[1][1]
    assert status["run"]["status"] == "failed"
    assert [job["status"] for job in status["jobs"]] == ["passed", "failed", "skipped"]
    assert {item["name"] for item in status["artifacts"]} == {"out.txt", "dist"}


def test_events_stream_running_log(demo: Demo) -> None:
    live = demo.store.live_log_path(58, "build")
    live.parent.mkdir(parents=True, exist_ok=True)
    live.write_bytes(b"started\n\x1b[33mstep two\x1b[0m\npartial")
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO="/demo/runs/58/events", QUERY_STRING="logs=build:8")
    body = demo.app(environ, lambda status, headers, exc_info=None: None)
    chunks = iter(body)

    received = b""
    while b"event: status" not in received:
        received += next(chunks)
    live.write_bytes(b"started\n\x1b[33mstep two\x1b[0m\npartial line\n")
    while received.count(b"event: log") < 2:
        received += next(chunks)
    getattr(body, "close", lambda: None)()

    logs = [data for name, data in _events(received) if name == "log"]
    assert logs[0]["html"] == '<span class="ansi-fg-3">step two</span>\n'
    assert logs[0]["offset"] == len(b"started\n\x1b[33mstep two\x1b[0m\n")
    assert logs[1]["html"] == "partial line\n"


def test_events_stop_when_viewer_stops(demo: Demo) -> None:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO="/demo/runs/58/events")
    body = demo.app(environ, lambda status, headers, exc_info=None: None)
    done = threading.Event()

    def drain() -> None:
        for _ in body:
            pass
        done.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    demo.app.stopping.set()

    assert done.wait(5)


# -- repositories ---------------------------------------------------------


def test_root_serves_every_bare_repository(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("alpha.git", "beta.git"):
        git(root, "init", "-q", "--bare", name)
    (root / "not-a-repo").mkdir()
    app = create_app(Registry([], root))

    names = [item["name"] for item in call(app, "/api/").json()["repositories"]]

    assert names == ["alpha", "beta"]
    assert call(app, "/beta").status == 200
    assert call(app, "/api/alpha/runs").json()["runs"] == []


def test_branch_quoting_in_links(demo: Demo) -> None:
    text = call(demo.app, "/demo").text

    assert 'href="/demo/runs?branch=release/1.x"' in text
    assert 'href="/demo/runs?branch=feature/%3Cb%3E"' in text


def test_event_streams_are_capped(demo: Demo) -> None:
    app = create_app(Registry([demo.git_dir]), max_streams=1)
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO="/demo/runs/58/events")
    first = app(environ, lambda status, headers, exc_info=None: None)
    next(iter(first))

    refused = call(app, "/demo/runs/58/events")
    getattr(first, "close", lambda: None)()
    accepted = call(app, "/demo/runs/56/events")

    assert refused.status == 503
    assert refused.headers["retry-after"] == "5"
    assert accepted.status == 200


def test_long_log_shows_its_tail(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "MAX_RENDERED_LOG", 64)
    log = b"".join(b"line %03d of the log\n" % i for i in range(100))
    live = demo.store.live_log_path(58, "build")
    live.parent.mkdir(parents=True, exist_ok=True)
    live.write_bytes(log)

    run_page = call(demo.app, "/demo/runs/58").text
    job_page = call(demo.app, "/demo/runs/58/jobs/build").text

    for text in (run_page, job_page):
        assert "line 099 of the log" in text
        assert "line 000 of the log" not in text
        assert f'data-offset="{len(log)}"' in text
    assert "the first 1.9 KiB are left out" in run_page

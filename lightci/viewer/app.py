"""The viewer's WSGI application: bottle routes over the Registry's stores.

Every page has a JSON twin at the same path under ``/api``. The viewer only
reads: any method but GET and HEAD gets 405, except the POST that git's
smart HTTP protocol uses to fetch (``/<name>.git/git-upload-pack``).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import bottle
import pygit2

from lightci import refs
from lightci.records import STATUSES, RecordError, short_ref
from lightci.viewer import downloads, githttp, pages, queries
from lightci.viewer.ansi import AnsiRenderer
from lightci.viewer.badge import render_badge
from lightci.viewer.formatting import (
    duration,
    duration_between,
    relative_time,
    size,
    subject,
)
from lightci.viewer.live import run_events
from lightci.viewer.repos import Registry, Repository

logger = logging.getLogger("lightci.viewer")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

StartResponse = Callable[..., Any]
_GIT_PATH = re.compile(r"^/(?P<name>[^/]+)\.git(?P<rest>/.*)?$")
_READ_METHODS = ("GET", "HEAD")
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

_STATUS_ICONS = {
    "passed": "✓",
    "failed": "✗",
    "error": "!",
    "timed-out": "⊗",
    "running": "●",
    "queued": "○",
    "cancelled": "⊘",
    "skipped": "⤼",
}


def status_pill(status: str | None, *, large: bool = False) -> str:
    """Return the markup of a status label; unknown statuses show as plain text."""
    text = status or "no runs"
    css = status if status in STATUSES else "none"
    icon = _STATUS_ICONS.get(text, "·")
    size_class = " status-large" if large else ""
    label = bottle.html_escape(text)
    return (
        f'<span class="status st-{css}{size_class}" data-status="{label}">'
        f'<span class="status-icon" aria-hidden="true">{icon}</span>'
        f'<span class="status-text">{label}</span></span>'
    )


def time_tag(value: str | None) -> str:
    """Return a ``<time>`` with a relative time, the ISO time in its title."""
    if not value:
        return ""
    escaped = bottle.html_escape(value)
    return f'<time datetime="{escaped}" title="{escaped}">{relative_time(value)}</time>'


def render_log_html(data: bytes, *, finished: bool) -> tuple[str, int]:
    """Render a log for a page; return the HTML and the bytes it covers.

    For a job still running, a last line without a newline is left out, so
    that the live stream can send it once it is complete.
    """
    return AnsiRenderer().render(data, final=finished)


TEMPLATE_HELPERS: dict[str, Any] = {
    "pill": status_pill,
    "when": time_tag,
    "duration": duration,
    "duration_between": duration_between,
    "size": size,
    "subject": subject,
    "short_ref": short_ref,
    "render_log": render_log_html,
    "html_escape": bottle.html_escape,
}


class Viewer:
    """The WSGI application; ``stopping`` ends open event streams on shutdown."""

    def __init__(self, registry: Registry, *, max_streams: int = 100) -> None:
        self.registry = registry
        self.stopping = threading.Event()
        # Each event stream occupies a server thread, so their number is capped
        # below the thread count to keep threads free for pages.
        self.max_streams = max_streams
        self._streams = threading.BoundedSemaphore(max_streams)
        self.web = bottle.Bottle(catchall=True)
        self.web.config["json.enable"] = False
        self.web.install(self._guard)
        self.web.default_error_handler = self._error_page
        self.templates = {
            path.stem: bottle.SimpleTemplate(name=path.stem, lookup=[str(TEMPLATES)])
            for path in TEMPLATES.glob("*.tpl")
        }
        self._routes()

    # -- WSGI entry --------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        git = _GIT_PATH.match(path)
        if git is not None:
            repository = self.registry.get(git.group("name"))
            if repository is not None:
                return self._git(repository, git, environ, start_response)
        if method not in _READ_METHODS:
            return self._method_not_allowed(path, start_response)
        return self.web(environ, start_response)  # type: ignore[no-any-return]

    def _git(
        self,
        repository: Repository,
        match: re.Match[str],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD", "POST"):
            return self._method_not_allowed(match.group(0), start_response)
        inner = dict(environ)
        inner["SCRIPT_NAME"] = (
            environ.get("SCRIPT_NAME", "") + f"/{repository.name}.git"
        )
        inner["PATH_INFO"] = match.group("rest") or "/"
        return githttp.serve_git(repository.git_dir, inner, start_response)

    def _method_not_allowed(
        self, path: str, start_response: StartResponse
    ) -> list[bytes]:
        message = "this viewer is read-only: use GET or HEAD"
        if path.startswith("/api"):
            body = json.dumps({"error": message, "status": 405}).encode()
            kind = "application/json"
        else:
            body = self._render_error(405, "Method not allowed", message).encode()
            kind = "text/html; charset=utf-8"
        start_response(
            "405 Method Not Allowed",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Allow", "GET, HEAD"),
            ],
        )
        return [body]

    # -- errors ------------------------------------------------------------

    def _guard(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Turn NotFound and BadRequest into 404 and 400, and log crashes as 500."""

        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except bottle.HTTPResponse:
                raise
            except pages.NotFound as exc:
                raise bottle.HTTPError(404, str(exc)) from None
            except pages.BadRequest as exc:
                raise bottle.HTTPError(400, str(exc)) from None
            except RecordError as exc:
                # A record this lightci cannot read: the error names it and why.
                logger.warning("%s: %s", bottle.request.fullpath, exc)
                raise bottle.HTTPError(500, str(exc)) from None
            except Exception:
                logger.exception(
                    "%s %s failed", bottle.request.method, bottle.request.fullpath
                )
                raise bottle.HTTPError(500, "the viewer failed on this page") from None

        return wrapper

    def _error_page(self, error: bottle.HTTPError) -> str:
        status = int(error.status_code)
        message = error.body if isinstance(error.body, str) else ""
        if status == 404 and not message:
            message = "no page at this address"
        if status == 500 and error.exception is not None:
            # An exception that bottle caught itself, outside the routes.
            logger.error(
                "%s %s failed: %s\n%s",
                bottle.request.method,
                bottle.request.fullpath,
                error.exception,
                error.traceback,
            )
            message = "the viewer failed on this page"
        bottle.response.set_header("Cache-Control", "no-cache")
        if bottle.request.path.startswith("/api"):
            bottle.response.content_type = "application/json"
            return json.dumps({"error": message, "status": status})
        bottle.response.content_type = "text/html; charset=utf-8"
        return self._render_error(status, _REASONS.get(status, "Error"), message)

    def _render_error(self, status: int, title: str, message: str) -> str:
        html: str = self.templates["error"].render(
            status=status,
            heading=title,
            message=message,
            title=f"{status} {title}",
            urls=pages.Urls(bottle.request.script_name.rstrip("/")),
            origin=_origin(),
            crumbs=[],
            **TEMPLATE_HELPERS,
        )
        return html

    # -- routes ------------------------------------------------------------

    def _urls(self) -> pages.Urls:
        return pages.Urls(bottle.request.script_name.rstrip("/"))

    def _repository(self, name: str) -> Repository:
        repository = self.registry.get(name)
        if repository is None:
            raise pages.NotFound(f"repository {name!r} not found")
        return repository

    def _respond(self, page: pages.Page, *, api: bool) -> str:
        bottle.response.set_header("Cache-Control", "no-cache")
        if api:
            bottle.response.content_type = "application/json"
            return json.dumps(page.data, indent=1)
        bottle.response.content_type = "text/html; charset=utf-8"
        html: str = self.templates[page.template].render(
            urls=self._urls(),
            origin=_origin(),
            title=page.title,
            **page.context,
            **TEMPLATE_HELPERS,
        )
        return html

    def _page(self, path: str, build: Callable[..., pages.Page]) -> None:
        """Register a page at ``path`` and its JSON twin at ``/api`` + path."""

        def html(**kwargs: Any) -> str:
            return self._respond(build(**kwargs), api=False)

        def api(**kwargs: Any) -> str:
            return self._respond(build(**kwargs), api=True)

        self.web.route(path, ["GET", "HEAD"], html)
        self.web.route("/api" + path, ["GET", "HEAD"], api)
        if path.endswith("/") and path != "/":
            self.web.route(path.rstrip("/"), ["GET", "HEAD"], html)

    def _routes(self) -> None:
        web = self.web
        web.route("/static/<path:path>", "GET", self.static_file)
        web.route("/favicon.ico", "GET", self.favicon)
        web.route("/api", "GET", lambda: self._respond(self._index(), api=True))
        self._page("/", self._index)
        self._page("/<name>", self._repository_page)
        self._page("/<name>/runs", self._history)
        self._page("/<name>/runs/<number:int>", self._run)
        self._page("/<name>/runs/<number:int>/jobs/<slug>", self._job)
        self._page("/<name>/commits/<commit>", self._commit)
        web.route("/<name>/runs/<number:int>/jobs/<slug>/raw", "GET", self.raw_log)
        web.route("/<name>/runs/<number:int>/events", "GET", self.events)
        web.route(
            "/<name>/runs/<number:int>/artifacts/<artifact:path>", "GET", self.artifact
        )
        web.route("/<name>/badge/<branch:path>", "GET", self.badge)

    def _index(self) -> pages.Page:
        return pages.index_page(self.registry, self._urls())

    def _repository_page(self, name: str) -> pages.Page:
        return pages.repository_page(
            self.registry, self._repository(name), self._urls()
        )

    def _history(self, name: str) -> pages.Page:
        query = bottle.request.query
        return pages.history_page(
            self.registry,
            self._repository(name),
            self._urls(),
            page=query.getunicode("page"),
            branch=query.getunicode("branch"),
            status=query.getunicode("status"),
            before=query.getunicode("before"),
        )

    def _run(self, name: str, number: int) -> pages.Page:
        return pages.run_page(
            self.registry, self._repository(name), self._urls(), number
        )

    def _job(self, name: str, number: int, slug: str) -> pages.Page:
        return pages.job_page(
            self.registry, self._repository(name), self._urls(), number, slug
        )

    def _commit(self, name: str, commit: str) -> pages.Page:
        return pages.commit_page(
            self.registry, self._repository(name), self._urls(), commit
        )

    # -- files, logs, streams, badges -------------------------------------

    def static_file(self, path: str) -> Any:
        if not _STATIC_NAME.match(path):
            raise pages.NotFound(f"no static file {path!r}")
        response = bottle.static_file(path, root=str(STATIC))
        response.set_header("Cache-Control", "max-age=300")
        return response

    def favicon(self) -> Any:
        return self.static_file("favicon.svg")

    def raw_log(self, name: str, number: int, slug: str) -> bytes:
        repository = self._repository(name)
        store = self.registry.store(repository)
        run = pages.require_run(self.registry, repository, number)
        pages.find_job(run, slug)
        data = store.read_log(number, slug) or b""
        bottle.response.content_type = "text/plain; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-cache")
        bottle.response.set_header("X-Content-Type-Options", "nosniff")
        return data

    def events(self, name: str, number: int) -> Iterator[bytes]:
        repository = self._repository(name)
        store = self.registry.store(repository)
        pages.require_run(self.registry, repository, number)
        offsets = parse_offsets(bottle.request.query.getunicode("logs") or "")
        urls = self._urls()

        def artifacts() -> list[dict[str, Any]]:
            return [
                pages.artifact_json(item, name, urls)
                for item in refs.list_artifacts(store.repo, store.git_dir, number)
            ]

        if not self._streams.acquire(blocking=False):
            logger.warning(
                "event stream of run %d in %s rejected: all %d streams are open",
                number,
                name,
                self.max_streams,
            )
            raise bottle.HTTPError(
                503,
                "too many live pages are open; the page retries in a few seconds",
                Retry_After="5",
            )
        bottle.response.content_type = "text/event-stream"
        bottle.response.set_header("Cache-Control", "no-cache")
        bottle.response.set_header("X-Accel-Buffering", "no")
        stream = run_events(
            store, number, offsets, stopping=self.stopping, artifacts=artifacts
        )
        return self._release_after(
            _logged(stream, f"event stream of run {number} in {name}")
        )

    def _release_after(self, stream: Iterator[bytes]) -> Iterator[bytes]:
        try:
            yield from stream
        finally:
            self._streams.release()

    def artifact(self, name: str, number: int, artifact: str) -> Any:
        repository = self._repository(name)
        store = self.registry.store(repository)
        # The name is only compared with the recorded artifacts, never used
        # as a file path, so no request can reach outside them.
        record = next(
            (
                item
                for item in refs.list_artifacts(store.repo, store.git_dir, number)
                if item.name == artifact
            ),
            None,
        )
        if record is None:
            raise pages.NotFound(f"artifact {artifact!r} not found in run {number}")

        item = store.artifact_object(record)
        base = record.name.rsplit("/", 1)[-1] or "artifact"
        if isinstance(item, pygit2.Blob):
            bottle.response.content_type = downloads.content_type(base)
            bottle.response.set_header("Content-Length", str(item.size))
            body: Iterator[bytes] = downloads.stream_blob(item)
            filename = base
        elif isinstance(item, pygit2.Tree):
            body, filename = _archive(store.repo, item, base)
        else:
            raise pages.NotFound(f"artifact {artifact!r} has no file or folder")

        bottle.response.set_header("Content-Disposition", _attachment(filename))
        bottle.response.set_header("X-Content-Type-Options", "nosniff")
        return _logged(
            body, f"download of artifact {artifact} of run {number} in {name}"
        )

    def badge(self, name: str, branch: str) -> str:
        if not branch.endswith(".svg"):
            raise pages.NotFound(
                "badges end in .svg, e.g. /<repository>/badge/main.svg"
            )
        branch = branch[: -len(".svg")]
        repository = self._repository(name)
        found = queries.ref_status(
            self.registry.store(repository), f"refs/heads/{branch}"
        )
        bottle.response.content_type = "image/svg+xml"
        bottle.response.set_header("Cache-Control", "no-cache")
        if found is None:
            bottle.response.status = 404
            return render_badge("unknown branch")
        return render_badge(found.run.status if found.run else None)


_REASONS = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    500: "Server error",
}


def _archive(
    repo: pygit2.Repository, tree: pygit2.Tree, base: str
) -> tuple[Iterator[bytes], str]:
    """Start an archive of a folder artifact in the requested format."""
    kind = bottle.request.query.getunicode("format") or "tar.gz"
    if kind not in downloads.ARCHIVE_FORMATS:
        raise pages.BadRequest(
            f"format={kind!r} is not an archive format; use "
            + " or ".join(downloads.ARCHIVE_FORMATS)
        )
    if kind == "zip":
        bottle.response.content_type = "application/zip"
        return downloads.stream_zip(repo, tree, base), f"{base}.zip"
    bottle.response.content_type = "application/gzip"
    return downloads.stream_tar_gz(repo, tree, base), f"{base}.tar.gz"


def _origin() -> str:
    """Return ``scheme://host[:port]`` of the current request."""
    parts = bottle.request.urlparts
    return f"{parts.scheme}://{parts.netloc}"


def parse_offsets(text: str) -> dict[str, int]:
    """Parse ``slug:offset,slug:offset``; malformed items are ignored."""
    offsets = {}
    for item in text.split(","):
        slug, _, number = item.rpartition(":")
        if slug and number.isdigit():
            offsets[slug] = int(number)
    return offsets


def _attachment(filename: str) -> str:
    """Return a Content-Disposition value that is safe for any file name."""
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _logged(body: Iterator[bytes], what: str) -> Iterator[bytes]:
    """Yield a streamed body, logging an error that stops it part way."""
    try:
        for chunk in body:
            if chunk:
                yield chunk
    except GeneratorExit:
        raise
    except Exception:
        logger.exception("%s failed", what)
        raise


def create_app(registry: Registry, *, max_streams: int = 100) -> Viewer:
    return Viewer(registry, max_streams=max_streams)

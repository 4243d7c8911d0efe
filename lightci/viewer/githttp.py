"""Read-only git smart HTTP for a served repository, through dulwich.

``git clone http://host:port/<name>.git`` and ``git fetch`` work, with every
ref, lightci's runs, artifacts and notes included. Pushes (receive-pack)
are rejected with 403 before they reach dulwich, and dulwich is given no
receive-pack handler either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from dulwich.repo import Repo
from dulwich.server import Backend, UploadPackHandler
from dulwich.web import GunzipFilter, HTTPGitApplication, LimitedInputFilter

RECEIVE_PACK = "git-receive-pack"

StartResponse = Callable[..., Any]


class _RepositoryBackend(Backend):
    """Opens one repository, whatever path the request names, and remembers it."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.opened: list[Repo] = []

    def open_repository(self, path: str) -> Repo:
        repo = Repo(str(self.git_dir))
        self.opened.append(repo)
        return repo


def is_push(environ: dict[str, Any]) -> bool:
    """Return whether a git HTTP request belongs to a push."""
    path = str(environ.get("PATH_INFO", ""))
    if path.endswith("/" + RECEIVE_PACK):
        return True
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    return query.get("service", [""])[0] == RECEIVE_PACK


def serve_git(
    git_dir: Path, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """Serve one git smart HTTP request; PATH_INFO starts after ``<name>.git``."""
    if is_push(environ):
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"this lightci viewer is read-only: pushing over HTTP is not allowed\n"]
    backend = _RepositoryBackend(git_dir)
    application = HTTPGitApplication(
        backend, handlers={b"git-upload-pack": UploadPackHandler}
    )
    application.handlers.pop(RECEIVE_PACK.encode(), None)
    chain = LimitedInputFilter(GunzipFilter(application))
    return _closing(chain(environ, start_response), backend)


def _closing(body: Iterable[bytes], backend: _RepositoryBackend) -> Iterator[bytes]:
    """Yield the response, then close the repositories it opened."""
    try:
        yield from body
    finally:
        for repo in backend.opened:
            repo.close()

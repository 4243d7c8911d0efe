"""Artifact downloads: a file streams from its blob, a folder as an archive.

Archives are built while they are sent, so a large folder never sits in
memory or on disk as a whole; each file's blob is read one at a time.
"""

from __future__ import annotations

import io
import mimetypes
import stat
import tarfile
import time
import zipfile
from collections.abc import Iterator

import pygit2

CHUNK_SIZE = 64 * 1024
ARCHIVE_FORMATS = ("tar.gz", "zip")

_MODE_TREE = int(pygit2.enums.FileMode.TREE)
_MODE_LINK = int(pygit2.enums.FileMode.LINK)
_MODE_EXECUTABLE = int(pygit2.enums.FileMode.BLOB_EXECUTABLE)


def content_type(name: str) -> str:
    """Guess a file's media type from its name, defaulting to bytes."""
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed
    return guessed


def stream_blob(blob: pygit2.Blob) -> Iterator[bytes]:
    """Yield a blob's content in chunks."""
    data = memoryview(blob)
    for start in range(0, len(data), CHUNK_SIZE):
        yield bytes(data[start : start + CHUNK_SIZE])


def _walk(
    repo: pygit2.Repository, tree: pygit2.Tree, prefix: str
) -> Iterator[tuple[str, int, pygit2.Object]]:
    """Yield (path, file mode, object) for every entry under ``tree``, depth first."""
    for entry in tree:
        name = entry.name or ""
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            # git does not write such names; skipping them keeps a crafted
            # tree from producing archive paths that leave the folder.
            continue
        path = f"{prefix}/{name}"
        item = repo[entry.id]
        yield path, int(entry.filemode), item
        if int(entry.filemode) == _MODE_TREE and isinstance(item, pygit2.Tree):
            yield from _walk(repo, item, path)


class _Drain(io.RawIOBase):
    """A write-only file whose written bytes are collected and taken out in turns."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data


def stream_tar_gz(
    repo: pygit2.Repository, tree: pygit2.Tree, top: str
) -> Iterator[bytes]:
    """Yield a gzip-compressed tar of a tree, its members under ``top/``."""
    drain = _Drain()
    now = int(time.time())
    with tarfile.open(fileobj=drain, mode="w|gz") as archive:
        folder = tarfile.TarInfo(top)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = now
        archive.addfile(folder)
        for path, mode, item in _walk(repo, tree, top):
            info = tarfile.TarInfo(path)
            info.mtime = now
            if mode == _MODE_TREE:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            elif mode == _MODE_LINK and isinstance(item, pygit2.Blob):
                info.type = tarfile.SYMTYPE
                info.linkname = bytes(item.data).decode("utf-8", "replace")
                info.mode = 0o777
                archive.addfile(info)
            elif isinstance(item, pygit2.Blob):
                info.size = item.size
                info.mode = 0o755 if mode == _MODE_EXECUTABLE else 0o644
                archive.addfile(info, io.BytesIO(item.data))
            yield drain.take()
    yield drain.take()


def stream_zip(repo: pygit2.Repository, tree: pygit2.Tree, top: str) -> Iterator[bytes]:
    """Yield a zip of a tree, its members under ``top/``."""
    drain = _Drain()
    with zipfile.ZipFile(drain, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, mode, item in _walk(repo, tree, top):
            if mode == _MODE_TREE:
                archive.writestr(zipfile.ZipInfo(f"{path}/"), b"")
            elif isinstance(item, pygit2.Blob):
                info = zipfile.ZipInfo(path, date_time=time.localtime()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                if mode == _MODE_LINK:
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                else:
                    permissions = 0o755 if mode == _MODE_EXECUTABLE else 0o644
                    info.external_attr = (stat.S_IFREG | permissions) << 16
                with archive.open(info, mode="w") as member:
                    for chunk in stream_blob(item):
                        member.write(chunk)
                        yield drain.take()
            yield drain.take()
    yield drain.take()

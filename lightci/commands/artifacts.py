"""``lightci artifacts RUN`` and ``lightci artifact RUN NAME``: list and fetch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pygit2

from lightci.errors import LightciError
from lightci.records import ArtifactRecord
from lightci.store import Store


def find_artifact(store: Store, run: int, name: str) -> ArtifactRecord:
    """Return the artifact called ``name``, or the only one whose name ends with it."""
    store.require_run(run, with_jobs=False)
    records = store.list_artifacts(run)
    for record in records:
        if record.name == name:
            return record
    matches = [r for r in records if r.name.endswith("/" + name) or r.path == name]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(record.name for record in records) or "none"
    if matches:
        raise LightciError(
            f"artifact name {name!r} is ambiguous in run {run}; use one of: {names}"
        )
    raise LightciError(f"run {run} has no artifact {name!r}; its artifacts: {names}")


def format_artifacts(records: list[ArtifactRecord]) -> str:
    lines = []
    for record in records:
        expires = f"expires {record.expires}" if record.expires else "kept"
        kind = "folder" if record.kind == "tree" else "file"
        lines.append(
            f"{record.name}\t{kind}\t{record.size} bytes\t{record.job}\t{expires}"
        )
    return "".join(line + "\n" for line in lines)


def save_artifact(store: Store, record: ArtifactRecord, output: str | None) -> str:
    """Write an artifact to ``output`` (a path, or ``-`` for stdout); return where."""
    try:
        return _save(store, record, output)
    except OSError as exc:
        where = exc.filename or output or "the current folder"
        raise LightciError(
            f"cannot write artifact {record.name} to {where}: {exc.strerror}; "
            "give another path with -o"
        ) from exc


def _save(store: Store, record: ArtifactRecord, output: str | None) -> str:
    obj = store.artifact_object(record)
    default = Path(Path(record.name).name)
    if isinstance(obj, pygit2.Blob):
        if output == "-":
            sys.stdout.buffer.write(obj.data)
            sys.stdout.buffer.flush()
            return "stdout"
        target = Path(output) if output else default
        if target.is_dir():
            target = target / default
        target.write_bytes(obj.data)
        return str(target)
    if output == "-":
        raise LightciError(
            f"artifact {record.name} is a folder; give a folder with -o PATH"
        )
    target = Path(output) if output else default
    if target.exists() and any(target.iterdir()):
        raise LightciError(
            f"{target} exists and is not empty; give another path with -o"
        )
    _extract_tree(store.repo, obj.peel(pygit2.Tree), target)
    return str(target)


def _extract_tree(repo: pygit2.Repository, tree: pygit2.Tree, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in tree:
        name = entry.name or ""
        if name in ("", ".", "..") or "/" in name:
            raise LightciError(f"artifact folder has an unsafe entry name {name!r}")
        path = target / name
        obj = repo.get(entry.id)
        if isinstance(obj, pygit2.Tree):
            _extract_tree(repo, obj, path)
        elif not isinstance(obj, pygit2.Blob):
            continue
        elif entry.filemode == pygit2.enums.FileMode.LINK:
            os.symlink(bytes(obj.data).decode(), path)
        else:
            path.write_bytes(obj.data)
            if entry.filemode == pygit2.enums.FileMode.BLOB_EXECUTABLE:
                path.chmod(0o755)

"""The record store: runs, notes and artifacts as git objects, through pygit2.

Every ref update is a compare-and-swap. The new commit is built on the tip
that was read, and the update fails if another writer moved the ref in
between. The change is then rebuilt on the new tip and tried again, so two
workers, or a worker and a hook, do not lose each other's writes (within
``_CAS_ATTEMPTS`` tries, after which the writer raises).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pygit2

from lightci.errors import LightciError, PipelineError
from lightci.records import (
    ARTIFACTS_PREFIX,
    NOTES_REF,
    PIPELINE_FILES,
    RUNS_PREFIX,
    ArtifactRecord,
    JobRecord,
    RunRecord,
    note_key,
    note_line,
    parse_summary,
)

__all__ = [
    "ARTIFACTS_PREFIX",
    "NOTES_REF",
    "PIPELINE_FILES",
    "RUNS_PREFIX",
    "Store",
    "note_key",
]


_MODE_BLOB = pygit2.enums.FileMode.BLOB
_MODE_EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE
_MODE_LINK = pygit2.enums.FileMode.LINK
_MODE_TREE = pygit2.enums.FileMode.TREE
_CAS_ATTEMPTS = 200


class RunNotFound(LightciError):
    pass


def open_repository(path: Path | None = None) -> pygit2.Repository:
    """Open the repository containing ``path`` (default: the current folder)."""
    start = str(path or Path.cwd())
    found = pygit2.discover_repository(start)
    if found is None:
        raise LightciError(
            f"not a git repository: {start}; run lightci inside a repository "
            "or pass --repo PATH"
        )
    return pygit2.Repository(found)


def _signature() -> pygit2.Signature:
    return pygit2.Signature("lightci", "lightci@localhost", int(time.time()), 0)


class Store:
    """Reads and writes lightci's records in one repository."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.git_dir = Path(repo.path).resolve()
        self.state_dir = self.git_dir / "lightci"
        self._write_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | None = None) -> Store:
        return cls(open_repository(path))

    # -- run numbers -------------------------------------------------------

    def allocate_number(self) -> int:
        """Claim the next run number; numbers are never handed out twice.

        A claim is an empty file created with O_EXCL under ``numbers/``; the
        shell hook claims numbers the same way, so both can run at once.
        """
        numbers = self.state_dir / "numbers"
        numbers.mkdir(parents=True, exist_ok=True)
        counter = self.state_dir / "next-run"
        try:
            candidate = int(counter.read_text().strip() or "1")
        except (FileNotFoundError, ValueError):
            candidate = 1
        highest = max(self.run_numbers(), default=0)
        candidate = max(candidate, highest + 1)
        while True:
            try:
                fd = os.open(numbers / str(candidate), os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                candidate += 1
                continue
            os.close(fd)
            break
        _write_atomic(counter, f"{candidate + 1}\n")
        return candidate

    # -- reading runs ------------------------------------------------------

    def run_numbers(self) -> list[int]:
        """Return the numbers of all recorded runs, newest first."""
        from lightci import refs

        return list(refs.run_numbers(self.git_dir))

    def _run_commit(self, number: int) -> pygit2.Commit | None:
        try:
            reference = self.repo.references[f"{RUNS_PREFIX}{number}"]
        except KeyError:
            return None
        commit = reference.peel(pygit2.Commit)
        assert isinstance(commit, pygit2.Commit)
        return commit

    def read_run(self, number: int, *, with_jobs: bool = False) -> RunRecord | None:
        commit = self._run_commit(number)
        if commit is None:
            return None
        return self._run_from_tree(commit.tree, with_jobs=with_jobs)

    def require_run(self, number: int, *, with_jobs: bool = True) -> RunRecord:
        run = self.read_run(number, with_jobs=with_jobs)
        if run is None:
            raise RunNotFound(
                f"run {number} not found in {self.git_dir}; "
                "`lightci log` lists the recorded runs"
            )
        return run

    def _run_from_tree(self, tree: pygit2.Tree, *, with_jobs: bool) -> RunRecord:
        run = parse_summary(_blob_data(tree, "run.json"))
        if with_jobs:
            jobs = []
            for summary in run.jobs:
                path = f"jobs/{summary.slug}.json"
                try:
                    jobs.append(JobRecord.from_dict(json.loads(_blob_data(tree, path))))
                except KeyError:
                    jobs.append(summary)
            run.jobs = jobs
        return run

    def run_history(self, number: int) -> list[tuple[str, str]]:
        """Return (status, commit message) for each state change, oldest first."""
        commit = self._run_commit(number)
        history = []
        while commit is not None:
            data = json.loads(_blob_data(commit.tree, "run.json"))
            history.append((data["status"], commit.message.strip()))
            commit = commit.parents[0] if commit.parents else None
        history.reverse()
        return history

    def read_log(self, number: int, slug: str) -> bytes | None:
        """Return a job's stored log, or the live one while the job runs."""
        live = self.live_log_path(number, slug)
        commit = self._run_commit(number)
        stored: bytes | None = None
        if commit is not None:
            try:
                stored = _blob_data(commit.tree, f"logs/{slug}.log")
            except KeyError:
                stored = None
        if live.exists():
            try:
                return live.read_bytes()
            except FileNotFoundError:
                pass
        return stored

    def live_log_path(self, number: int, slug: str) -> Path:
        return self.state_dir / "live" / str(number) / f"{slug}.log"

    # -- writing runs ------------------------------------------------------

    def write_run(
        self,
        run: RunRecord,
        *,
        message: str,
        logs: dict[str, Path] | None = None,
        jobs: list[JobRecord] | None = None,
    ) -> pygit2.Oid:
        """Record a new state of ``run`` as a commit on its ref.

        ``jobs`` are the job records to write again. ``logs`` maps a job slug
        to the file that contains its log. Entries not given keep their
        previous content.
        """
        summary = json.dumps(run.summary_dict(), indent=2, sort_keys=True) + "\n"
        files: dict[str, pygit2.Oid] = {
            "run.json": self.repo.create_blob(summary.encode()),
        }
        for job in jobs if jobs is not None else run.jobs:
            text = json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n"
            files[f"jobs/{job.slug}.json"] = self.repo.create_blob(text.encode())
        for slug, path in (logs or {}).items():
            files[f"logs/{slug}.log"] = self.repo.create_blob_fromdisk(str(path))

        def build(parent: pygit2.Commit | None) -> pygit2.Oid:
            base = parent.tree if parent is not None else None
            tree = _tree_with(self.repo, base, files)
            parents = [parent.id] if parent is not None else []
            return self.repo.create_commit(
                None, _signature(), _signature(), message, tree, parents
            )

        return self._cas_update(f"{RUNS_PREFIX}{run.number}", build)

    def _cas_update(
        self, name: str, build: Callable[[pygit2.Commit | None], pygit2.Oid]
    ) -> pygit2.Oid:
        with self._write_lock:
            for _ in range(_CAS_ATTEMPTS):
                reference = self.repo.references.get(name)
                parent = reference.peel(pygit2.Commit) if reference else None
                new_id = build(parent)
                try:
                    if reference is None:
                        self.repo.references.create(name, new_id)
                    else:
                        reference.set_target(new_id)
                    return new_id
                except (pygit2.AlreadyExistsError, pygit2.GitError):
                    time.sleep(random.uniform(0.001, 0.02))
        raise LightciError(
            f"could not update {name} in {self.git_dir}: other writers kept "
            "changing it; try again"
        )

    def delete_run(self, number: int) -> None:
        reference = self.repo.references.get(f"{RUNS_PREFIX}{number}")
        if reference is not None:
            reference.delete()

    # -- notes -------------------------------------------------------------

    def read_note(self, commit: str) -> str | None:
        reference = self.repo.references.get(NOTES_REF)
        if reference is None:
            return None
        tree = reference.peel(pygit2.Commit).tree
        for path in (commit, f"{commit[:2]}/{commit[2:]}"):
            try:
                return _blob_data(tree, path).decode("utf-8", "replace")
            except KeyError:
                continue
        return None

    def set_note_line(self, run: RunRecord) -> None:
        """Put the run's summary line in the built commit's note.

        The line of the same run is replaced in place; other lines stay. The
        note is written at ``ab/cdef...`` (git's one-level fanout) because a
        flat notes tree makes every lookup scan thousands of entries.
        """
        line = note_line(run)
        key = note_key(line)

        def edit(lines: list[str]) -> list[str]:
            replaced = [line if note_key(item) == key else item for item in lines]
            if replaced == lines and line not in lines:
                replaced.append(line)
            return replaced

        self.edit_note(
            NOTES_REF,
            run.commit,
            edit,
            message=f"lightci: run {run.number} {run.status}\n",
        )

    def read_note_at(self, ref: str, target: str) -> str | None:
        """Return the note on object ``target`` in the notes ref ``ref``."""
        reference = self.repo.references.get(ref)
        if reference is None:
            return None
        tree = reference.peel(pygit2.Commit).tree
        for path in (target, f"{target[:2]}/{target[2:]}"):
            try:
                return _blob_data(tree, path).decode("utf-8", "replace")
            except KeyError:
                continue
        return None

    def edit_note(
        self,
        ref: str,
        target: str,
        edit: Callable[[list[str]], list[str]],
        *,
        message: str,
    ) -> None:
        """Rewrite the note on ``target`` in ``ref`` as ``edit`` returns its lines.

        ``edit`` gets the current lines and may be called again when another
        writer moved the ref; returning the same lines writes nothing.
        """

        def build(parent: pygit2.Commit | None) -> pygit2.Oid:
            base = parent.tree if parent is not None else None
            old_text = ""
            if base is not None:
                for path in (target, f"{target[:2]}/{target[2:]}"):
                    try:
                        old_text = _blob_data(base, path).decode("utf-8", "replace")
                        break
                    except KeyError:
                        continue
            lines = [item for item in old_text.splitlines() if item.strip()]
            new_lines = edit(list(lines))
            if parent is not None and new_lines == lines:
                return parent.id
            blob = self.repo.create_blob(("\n".join(new_lines) + "\n").encode())
            changes: dict[str, pygit2.Oid | None] = {
                target: None,
                f"{target[:2]}/{target[2:]}": blob,
            }
            tree = _tree_with(self.repo, base, changes)
            parents = [parent.id] if parent is not None else []
            return self.repo.create_commit(
                None, _signature(), _signature(), message, tree, parents
            )

        self._cas_update(ref, build)

    def update_ref(
        self, name: str, build: Callable[[pygit2.Commit | None], pygit2.Oid]
    ) -> pygit2.Oid:
        """Point ``name`` at what ``build`` makes of its tip, as a compare-and-swap.

        ``build`` is called again on the new tip when another writer moved
        the ref in between.
        """
        return self._cas_update(name, build)

    def read_run_at(self, ref: str, *, with_jobs: bool = False) -> RunRecord | None:
        """Read the run record at any ref, e.g. a run fetched from a remote."""
        reference = self.repo.references.get(ref)
        if reference is None:
            return None
        commit = reference.peel(pygit2.Commit)
        return self._run_from_tree(commit.tree, with_jobs=with_jobs)

    def read_log_at(self, ref: str, slug: str) -> bytes | None:
        """Return a job's log as stored in the run record at ``ref``."""
        reference = self.repo.references.get(ref)
        if reference is None:
            return None
        try:
            return _blob_data(reference.peel(pygit2.Commit).tree, f"logs/{slug}.log")
        except KeyError:
            return None

    def list_artifacts_under(self, prefix: str) -> list[ArtifactRecord]:
        """List the artifacts whose tag refs start with ``prefix``."""
        return [self._artifact_from_ref(name) for name in self._ref_names(prefix)]

    # -- artifacts ---------------------------------------------------------

    def add_artifact(
        self,
        *,
        run: int,
        job: str,
        name: str,
        source: Path,
        relative_path: str,
        expires: str | None,
    ) -> ArtifactRecord:
        """Store a file or folder as an annotated tag under the run's artifacts."""
        if source.is_dir() and not source.is_symlink():
            object_id, size = _tree_from_disk(self.repo, source)
            kind = "tree"
            digest = None
        else:
            object_id = self.repo.create_blob_fromdisk(str(source))
            size = source.stat().st_size
            kind = "blob"
            digest = _sha256_file(source)
        record = ArtifactRecord(
            name=name,
            job=job,
            path=relative_path,
            kind=kind,
            size=size,
            sha256=digest,
            expires=expires,
            run=run,
            object_id=str(object_id),
        )
        metadata = asdict(record)
        del metadata["object_id"]
        message = (
            f"lightci artifact {name} of run {run}\n\n"
            + json.dumps({"format": 1, **metadata}, indent=2, sort_keys=True)
            + "\n"
        )
        tag_name = f"lightci/artifacts/{run}/{name}"
        tagger = _signature()
        raw = (
            f"object {object_id}\ntype {kind}\ntag {tag_name}\n"
            f"tagger {tagger.name} <{tagger.email}> {tagger.time} +0000\n\n{message}"
        ).encode()
        tag_id = self.repo.odb.write(pygit2.enums.ObjectType.TAG, raw)
        ref_name = f"{ARTIFACTS_PREFIX}{run}/{name}"
        self.repo.references.create(ref_name, tag_id, force=True)
        return record

    def artifact_job(self, run: int, name: str) -> str | None:
        """Return the job that stored artifact ``name`` of a run, or None."""
        ref_name = f"{ARTIFACTS_PREFIX}{run}/{name}"
        if ref_name not in self.repo.references:
            return None
        return self._artifact_from_ref(ref_name).job

    def list_artifacts(self, run: int) -> list[ArtifactRecord]:
        prefix = f"{ARTIFACTS_PREFIX}{run}/"
        return [self._artifact_from_ref(name) for name in self._ref_names(prefix)]

    def _ref_names(self, prefix: str) -> list[str]:
        """Return the sorted ref names that start with ``prefix``.

        A prefix ending in ``/`` is listed from the files under it and
        packed-refs, without reading every ref of the repository.
        """
        if prefix.endswith("/"):
            from lightci import refs

            return refs.ref_names(self.git_dir, prefix)
        return sorted(
            name for name in self.repo.listall_references() if name.startswith(prefix)
        )

    def _artifact_from_ref(self, ref_name: str) -> ArtifactRecord:
        tag = self.repo.references[ref_name].peel(pygit2.Tag)
        assert isinstance(tag, pygit2.Tag)
        body = tag.message.split("\n\n", 1)[1]
        data: dict[str, Any] = json.loads(body)
        data.pop("format", None)
        data["object_id"] = str(tag.target)
        return ArtifactRecord(**data)

    def artifact_object(self, record: ArtifactRecord) -> pygit2.Object:
        return self.repo[record.object_id]

    def iter_artifact_refs(self) -> Iterator[str]:
        yield from self._ref_names(ARTIFACTS_PREFIX)

    # -- pipelines ---------------------------------------------------------

    def read_pipeline(self, commit: str) -> tuple[str, bytes] | None:
        """Return (file name, content) of the pipeline in a commit's tree.

        Returns None when the commit has no pipeline file. Raises
        PipelineError when the name is a folder or a symbolic link, which
        lightci does not follow because it reads the commit, not a checkout.
        """
        tree = self.repo.revparse_single(commit).peel(pygit2.Commit).tree
        for name in PIPELINE_FILES:
            try:
                entry = tree[name]
            except KeyError:
                continue
            if isinstance(entry, pygit2.Tree):
                raise PipelineError(
                    "is a folder in the commit; the pipeline must be a file",
                    filename=name,
                )
            if entry.filemode == _MODE_LINK:
                raise PipelineError(
                    "is a symbolic link in the commit; lightci reads the "
                    "pipeline from the commit and does not follow links, so "
                    "commit the file itself",
                    filename=name,
                )
            if isinstance(entry, pygit2.Blob):
                return name, bytes(entry.data)
        return None


def _blob_data(tree: pygit2.Tree, path: str) -> bytes:
    entry = tree[path]
    if not isinstance(entry, pygit2.Blob):
        raise KeyError(path)
    return bytes(entry.data)


def _tree_with(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    changes: dict[str, pygit2.Oid] | dict[str, pygit2.Oid | None],
) -> pygit2.Oid:
    """Return a tree like ``base`` with blobs set (or removed, for None) by path."""
    direct: dict[str, pygit2.Oid | None] = {}
    nested: dict[str, dict[str, pygit2.Oid | None]] = {}
    for path, oid in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = oid
        else:
            direct[head] = oid
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for name, oid in direct.items():
        if oid is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, _MODE_BLOB)
    for name, sub_changes in nested.items():
        sub_base = None
        if base is not None:
            try:
                candidate = base[name]
            except KeyError:
                candidate = None
            if isinstance(candidate, pygit2.Tree):
                sub_base = candidate
        sub_tree = _tree_with(repo, sub_base, sub_changes)
        if len(repo[sub_tree].peel(pygit2.Tree)) == 0:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, sub_tree, _MODE_TREE)
    return builder.write()


def _tree_from_disk(repo: pygit2.Repository, folder: Path) -> tuple[pygit2.Oid, int]:
    builder = repo.TreeBuilder()
    total = 0
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        path = Path(entry.path)
        if entry.is_symlink():
            target = os.readlink(path).encode()
            builder.insert(entry.name, repo.create_blob(target), _MODE_LINK)
        elif entry.is_dir():
            sub_tree, size = _tree_from_disk(repo, path)
            builder.insert(entry.name, sub_tree, _MODE_TREE)
            total += size
        elif entry.is_file():
            mode = entry.stat().st_mode
            file_mode = _MODE_EXECUTABLE if mode & stat.S_IXUSR else _MODE_BLOB
            builder.insert(entry.name, repo.create_blob_fromdisk(str(path)), file_mode)
            total += entry.stat().st_size
    return builder.write(), total


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)

"""Runs from several places: clone ids, run ids, and syncing with a remote.

A clone records its runs under its own ``refs/lightci/runs/<N>`` with
``origin`` set to its id, so its note lines read ``run 7 @alice@laptop-1a2b``
and never share a key with the server's ``run 7``. ``lightci sync`` pushes
a clone's runs to ``refs/lightci/clones/<id>/`` on the remote and merges
the notes refs line by line, keyed by run, so no place loses a line.

Where each place's runs are seen:

| seen from | ref | run id |
| --- | --- | --- |
| the place itself | ``refs/lightci/runs/N`` | ``N`` |
| a clone, after fetch | ``refs/lightci/remotes/R/runs/N`` | ``R/N`` |
| the server | ``refs/lightci/clones/ID/runs/N`` | ``ID/N`` |
| a clone, after fetch | ``refs/lightci/remotes/R/clones/ID/runs/N`` | ``ID/N`` |
"""

from __future__ import annotations

import getpass
import logging
import random
import re
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pygit2

from lightci.errors import LightciError
from lightci.process import git
from lightci.records import (
    CLONES_PREFIX,
    FINISHED_STATUSES,
    QUEUED,
    REMOTES_PREFIX,
    RUNNING,
    RunRecord,
)
from lightci.store import ARTIFACTS_PREFIX, NOTES_REF, RUNS_PREFIX, Store, note_key

logger = logging.getLogger("lightci.sync")

REMOTE_NOTES_PREFIX = "refs/notes/remotes/"
TREES_NOTES_REF = "refs/notes/lightci-trees"
SYNCED_NOTES_REFS = (NOTES_REF, TREES_NOTES_REF)
PUSH_ATTEMPTS = 10
# Between attempts, wait a random time that doubles each round up to a
# cap, so that two clones syncing at once, or a busy worker writing notes,
# stop colliding on every attempt.
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 2.0

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")
_VALID_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@-]*")
_REMOTE_RUN = re.compile(r"(?P<remote>.+)/runs/(?P<number>[0-9]+)")
_REMOTE_CLONE_RUN = re.compile(
    r"(?P<remote>.+)/clones/(?P<clone>[^/]+)/runs/(?P<number>[0-9]+)"
)
_CLONE_RUN = re.compile(r"(?P<clone>[^/]+)/runs/(?P<number>[0-9]+)")


# -- clone ids -------------------------------------------------------------


def read_clone_id(repo: pygit2.Repository) -> str | None:
    try:
        value = str(repo.config["lightci.id"]).strip()
    except KeyError:
        return None
    return value or None


def clone_id(repo: pygit2.Repository) -> str:
    """Return the clone's id (``git config lightci.id``), creating it on first use.

    The id is ``<user>@<host>-<4 hex digits>``; the random part keeps two
    clones of one user on one machine apart.
    """
    existing = read_clone_id(repo)
    if existing is not None:
        return existing
    user = _ref_safe(getpass.getuser()) or "user"
    host = _ref_safe(socket.gethostname().split(".")[0]) or "host"
    value = f"{user}@{host}-{secrets.token_hex(2)}"
    repo.config["lightci.id"] = value
    return value


def _ref_safe(text: str) -> str:
    return _UNSAFE_ID.sub("-", text).strip("-.")


def check_clone_id(value: str) -> None:
    if (
        not _VALID_ID.fullmatch(value)
        or ".." in value
        or value.endswith((".", ".lock"))
        or value == "@"
    ):
        raise LightciError(
            f"git config lightci.id is {value!r}, which cannot be part of a ref "
            "name; set it to letters, digits, '.', '_', '-' and '@', e.g. "
            "`git config lightci.id alice@laptop-1a2b`"
        )


def local_origin(repo: pygit2.Repository) -> str | None:
    """Return the origin to record on local runs: the clone id, or None on a server."""
    if repo.is_bare:
        return None
    return clone_id(repo)


# -- run ids ---------------------------------------------------------------


@dataclass(frozen=True)
class RunPlace:
    """The location of one run's record, and the id the user types for it."""

    label: str
    number: int
    ref: str
    artifacts_prefix: str
    clone: str | None = None
    remote: str | None = None

    @property
    def is_local(self) -> bool:
        return self.ref == f"{RUNS_PREFIX}{self.number}"


@dataclass(frozen=True)
class PlacedRun:
    place: RunPlace
    run: RunRecord


def local_place(number: int) -> RunPlace:
    return RunPlace(
        label=str(number),
        number=number,
        ref=f"{RUNS_PREFIX}{number}",
        artifacts_prefix=f"{ARTIFACTS_PREFIX}{number}/",
    )


def foreign_places(store: Store) -> list[RunPlace]:
    """Return the runs recorded elsewhere that this repository has a copy of."""
    own = read_clone_id(store.repo)
    places: dict[str, RunPlace] = {}
    for name in store.repo.listall_references():
        place = _place_of_ref(name)
        if place is None or place.clone == own and own is not None:
            continue
        places.setdefault(place.label, place)
    return list(places.values())


def _place_of_ref(name: str) -> RunPlace | None:
    if name.startswith(CLONES_PREFIX):
        match = _CLONE_RUN.fullmatch(name[len(CLONES_PREFIX) :])
        if match is None:
            return None
        clone, number = match["clone"], int(match["number"])
        return RunPlace(
            label=f"{clone}/{number}",
            number=number,
            ref=name,
            artifacts_prefix=f"{CLONES_PREFIX}{clone}/artifacts/{number}/",
            clone=clone,
        )
    if not name.startswith(REMOTES_PREFIX):
        return None
    tail = name[len(REMOTES_PREFIX) :]
    match = _REMOTE_CLONE_RUN.fullmatch(tail)
    if match is not None:
        remote, clone, number = match["remote"], match["clone"], int(match["number"])
        return RunPlace(
            label=f"{clone}/{number}",
            number=number,
            ref=name,
            artifacts_prefix=(
                f"{REMOTES_PREFIX}{remote}/clones/{clone}/artifacts/{number}/"
            ),
            clone=clone,
            remote=remote,
        )
    match = _REMOTE_RUN.fullmatch(tail)
    if match is None:
        return None
    remote, number = match["remote"], int(match["number"])
    return RunPlace(
        label=f"{remote}/{number}",
        number=number,
        ref=name,
        artifacts_prefix=f"{REMOTES_PREFIX}{remote}/artifacts/{number}/",
        remote=remote,
    )


def resolve_run_id(store: Store, text: str) -> RunPlace:
    """Find the run a user names: ``12``, ``origin/12`` or ``alice@laptop-1a2b/3``."""
    if text.isdigit():
        return local_place(int(text))
    place_name, _, number = text.rpartition("/")
    if place_name and number.isdigit():
        if place_name == read_clone_id(store.repo):
            return local_place(int(number))
        for place in foreign_places(store):
            if place.label == text:
                return place
    raise LightciError(
        f"run {text!r} not found in {store.git_dir}; give a number for a run "
        "of this repository, REMOTE/N for a server's run or CLONE-ID/N for a "
        "clone's run (`lightci log` lists them, `lightci sync` fetches them)"
    )


def read_placed(
    store: Store, place: RunPlace, *, with_jobs: bool = False
) -> RunRecord | None:
    return store.read_run_at(place.ref, with_jobs=with_jobs)


# -- note lines from every place ---------------------------------------------


def note_lines(store: Store, target: str, ref: str = NOTES_REF) -> list[str]:
    """Return the note lines on ``target``: the local note's, then fetched ones.

    A fetched copy of a remote's notes (``refs/notes/remotes/R/...``) adds
    the lines whose run is not in the local note yet, so a plain
    ``git fetch`` is enough to see a server's results.
    """
    lines: list[str] = []
    seen: set[str] = set()
    suffix = ref[len("refs/notes/") :]
    sources = [ref] + sorted(
        name
        for name in store.repo.listall_references()
        if name.startswith(REMOTE_NOTES_PREFIX) and name.endswith(f"/{suffix}")
    )
    for source in sources:
        for line in (store.read_note_at(source, target) or "").splitlines():
            key = note_key(line.strip())
            if line.strip() and key not in seen:
                seen.add(key)
                lines.append(line.strip())
    return lines


def place_of_key(
    store: Store, key: str, commit: str, foreign: list[RunPlace]
) -> PlacedRun | None:
    """Find the record of a note key (``run 12`` or ``run 3 @ID``) for ``commit``.

    ``run N`` without an origin is a run of this repository on a server, and
    a server's run when seen from a clone; a clone's runs have an origin.
    """
    parts = key.split(" ")
    if len(parts) < 2 or parts[0] != "run" or not parts[1].isdigit():
        return None
    number = int(parts[1])
    origin = parts[2][1:] if len(parts) == 3 else None
    own = read_clone_id(store.repo)
    candidates: list[RunPlace] = []
    if origin is None or origin == own:
        candidates.append(local_place(number))
    if origin is None:
        candidates.extend(
            place for place in foreign if place.clone is None and place.number == number
        )
    else:
        candidates.extend(
            place
            for place in foreign
            if place.clone == origin and place.number == number
        )
    for place in candidates:
        run = read_placed(store, place, with_jobs=True)
        if run is None or run.commit != commit:
            continue
        if place.is_local and (run.origin or None) != origin:
            continue
        return PlacedRun(place, run)
    return None


def runs_of_commit(store: Store, commit: str) -> list[PlacedRun]:
    """Return every run recorded for ``commit`` anywhere known, in note order."""
    foreign = foreign_places(store)
    found = []
    for line in note_lines(store, commit):
        placed = place_of_key(store, note_key(line), commit, foreign)
        if placed is not None:
            found.append(placed)
    return found


def all_runs(store: Store) -> list[PlacedRun]:
    """Return the runs of this repository and the copies of other places' runs."""
    found = []
    for number in store.run_numbers():
        run = store.read_run(number)
        if run is not None:
            found.append(PlacedRun(local_place(number), run))
    for place in foreign_places(store):
        run = read_placed(store, place)
        if run is not None:
            found.append(PlacedRun(place, run))
    return found


# -- remote setup --------------------------------------------------------------


def fetch_refspecs(remote: str) -> list[str]:
    base = f"{REMOTES_PREFIX}{remote}"
    return [
        f"+{RUNS_PREFIX}*:{base}/runs/*",
        f"+{ARTIFACTS_PREFIX}*:{base}/artifacts/*",
        f"+{CLONES_PREFIX}*:{base}/clones/*",
        f"+{NOTES_REF}:{remote_notes_ref(remote, NOTES_REF)}",
        f"+{TREES_NOTES_REF}:{remote_notes_ref(remote, TREES_NOTES_REF)}",
    ]


def remote_notes_ref(remote: str, ref: str) -> str:
    return f"{REMOTE_NOTES_PREFIX}{remote}/{ref[len('refs/notes/') :]}"


def check_remote(store: Store, remote: str) -> None:
    names = [str(name) for name in store.repo.remotes.names()]
    if remote not in names:
        known = ", ".join(names) or "none"
        raise LightciError(
            f"no remote named {remote!r} in {store.git_dir} (remotes: {known}); "
            f"add it with `git remote add {remote} URL`"
        )


def setup_remote(store: Store, remote: str) -> list[str]:
    """Add lightci's fetch refspecs to ``remote``; return what was added."""
    check_remote(store, remote)
    key = f"remote.{remote}.fetch"
    present = git(store.git_dir, "config", "--get-all", key, check=False)
    existing = set(present.stdout.decode().splitlines())
    added = []
    for refspec in fetch_refspecs(remote):
        if refspec not in existing:
            git(store.git_dir, "config", "--add", key, refspec)
            added.append(refspec)
    return added


def default_remote(store: Store) -> str:
    """Return the current branch's upstream remote, or ``origin``."""
    repo = store.repo
    try:
        branch = repo.references["HEAD"].resolve().shorthand
        return str(repo.config[f"branch.{branch}.remote"])
    except (KeyError, pygit2.GitError):
        return "origin"


# -- notes merge -----------------------------------------------------------


def _rank(line: str) -> int:
    parts = note_key(line).split(" ")
    words = line.split(" ")
    status = words[len(parts)] if len(words) > len(parts) else ""
    if status in FINISHED_STATUSES:
        return 2
    if status == RUNNING:
        return 1
    return 0 if status == QUEUED else -1


def merge_lines(ours: Iterable[str], theirs: Iterable[str]) -> list[str]:
    """Union two notes' lines with one line per run key.

    When both sides hold a line for the same run, the later state wins
    (finished over running over queued), because a run's state only moves
    forward; equal states fall back to the larger text, so every place
    merges to the same line. Lines that name no run are all kept.
    """
    merged: list[str] = []
    index: dict[str, int] = {}
    for line in [*ours, *theirs]:
        line = line.strip()
        if not line:
            continue
        key = note_key(line) if line.startswith("run ") else line
        if key not in index:
            index[key] = len(merged)
            merged.append(line)
            continue
        current = merged[index[key]]
        if (_rank(line), line) > (_rank(current), current):
            merged[index[key]] = line
    return merged


def merge_notes_commits(
    repo: pygit2.Repository,
    ours: pygit2.Commit | None,
    theirs: pygit2.Commit,
    message: str,
) -> pygit2.Oid:
    """Return the commit that contains both notes histories, merged by run key.

    A side that already contains the other is returned as it is (a fast
    forward); otherwise a merge commit with both sides as parents.
    """
    if ours is None or ours.id == theirs.id:
        return theirs.id
    if repo.descendant_of(ours.id, theirs.id):
        return ours.id
    if repo.descendant_of(theirs.id, ours.id):
        return theirs.id
    our_notes = _notes_by_target(repo, ours.tree)
    their_notes = _notes_by_target(repo, theirs.tree)
    builder = repo.TreeBuilder()
    fanout: dict[str, pygit2.TreeBuilder] = {}
    for target in sorted(set(our_notes) | set(their_notes)):
        ours_blob = our_notes.get(target)
        theirs_blob = their_notes.get(target)
        if ours_blob is None or theirs_blob is None or ours_blob == theirs_blob:
            blob_id = ours_blob or theirs_blob
        else:
            lines = merge_lines(
                _blob_lines(repo, ours_blob), _blob_lines(repo, theirs_blob)
            )
            blob_id = repo.create_blob(("\n".join(lines) + "\n").encode())
        assert blob_id is not None
        folder = fanout.setdefault(target[:2], repo.TreeBuilder())
        folder.insert(target[2:], blob_id, pygit2.enums.FileMode.BLOB)
    for name, folder in fanout.items():
        builder.insert(name, folder.write(), pygit2.enums.FileMode.TREE)
    signature = pygit2.Signature("lightci", "lightci@localhost")
    return repo.create_commit(
        None, signature, signature, message, builder.write(), [ours.id, theirs.id]
    )


def _notes_by_target(
    repo: pygit2.Repository, tree: pygit2.Tree
) -> dict[str, pygit2.Oid]:
    """Map each annotated object id to its note blob, whatever the fanout."""
    notes: dict[str, pygit2.Oid] = {}

    def walk(folder: pygit2.Tree, prefix: str) -> None:
        for entry in folder:
            name = prefix + str(entry.name)
            if isinstance(entry, pygit2.Tree):
                walk(entry, name)
            elif isinstance(entry, pygit2.Blob):
                notes[name] = entry.id

    walk(tree, "")
    return notes


def _blob_lines(repo: pygit2.Repository, blob_id: pygit2.Oid) -> list[str]:
    blob = repo[blob_id]
    assert isinstance(blob, pygit2.Blob)
    return bytes(blob.data).decode("utf-8", "replace").splitlines()


def merge_fetched_notes(store: Store, remote: str) -> list[str]:
    """Merge the fetched copies of the remote's notes refs into the local ones."""
    merged = []
    for ref in SYNCED_NOTES_REFS:
        fetched = store.repo.references.get(remote_notes_ref(remote, ref))
        if fetched is None:
            continue
        theirs = fetched.peel(pygit2.Commit)
        message = f"lightci: merge {ref} from {remote}\n"

        def build(
            parent: pygit2.Commit | None,
            theirs: pygit2.Commit = theirs,
            message: str = message,
        ) -> pygit2.Oid:
            return merge_notes_commits(store.repo, parent, theirs, message)

        store.update_ref(ref, build)
        merged.append(ref)
    return merged


# -- sync ------------------------------------------------------------------


@dataclass
class SyncResult:
    remote: str
    attempts: int
    pushed_runs: int
    messages: list[str]


def sync(
    store: Store, remote: str | None = None, *, attempts: int = PUSH_ATTEMPTS
) -> SyncResult:
    """Fetch the remote's records, merge its notes, push ours; retry if it moved."""
    name = remote or default_remote(store)
    check_remote(store, name)
    own = None if store.repo.is_bare else clone_id(store.repo)
    if own is not None:
        check_clone_id(own)
    messages: list[str] = []
    for attempt in range(1, attempts + 1):
        expected = fetch(store, name)
        merge_fetched_notes(store, name)
        rejected = push(store, name, own, expected)
        if not rejected:
            return SyncResult(name, attempt, len(store.run_numbers()), messages)
        message = (
            f"{', '.join(rejected)} on {name} changed during the sync; "
            f"fetching and merging again (attempt {attempt + 1} of {attempts})"
        )
        logger.info(message)
        messages.append(message)
        if attempt < attempts:
            ceiling = min(
                BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS
            )
            time.sleep(random.uniform(ceiling / 2, ceiling))
    raise LightciError(
        f"could not push lightci's notes to {name}: they kept changing on the "
        f"remote during {attempts} attempts; run `lightci sync {name}` again"
    )


def fetch(store: Store, remote: str) -> dict[str, str | None]:
    """Fetch lightci's refs from ``remote``; return the notes tips fetched."""
    listed = git(store.git_dir, "ls-remote", remote, *SYNCED_NOTES_REFS).stdout.decode()
    present = {}
    for line in listed.splitlines():
        object_id, _, ref = line.partition("\t")
        present[ref.strip()] = object_id.strip()
    refspecs = [
        spec
        for spec in fetch_refspecs(remote)
        if not spec.startswith("+refs/notes/") or spec[1:].split(":", 1)[0] in present
    ]
    git(store.git_dir, "fetch", "--quiet", "--no-write-fetch-head", remote, *refspecs)
    return {ref: present.get(ref) for ref in SYNCED_NOTES_REFS}


def push(
    store: Store, remote: str, own: str | None, expected: dict[str, str | None]
) -> list[str]:
    """Push our runs, artifacts and notes; return the notes refs the remote rejected.

    Each notes ref goes with ``--force-with-lease`` on the tip fetched
    before the merge, and the merged notes contain that tip, so the push is
    a fast forward and a remote that moved in between rejects it.
    """
    refspecs = []
    if own is not None:
        base = f"{CLONES_PREFIX}{own}"
        if store.run_numbers():
            refspecs.append(f"+{RUNS_PREFIX}*:{base}/runs/*")
        if any(True for _ in store.iter_artifact_refs()):
            refspecs.append(f"+{ARTIFACTS_PREFIX}*:{base}/artifacts/*")
    leases = []
    for ref in SYNCED_NOTES_REFS:
        if ref not in store.repo.references:
            continue
        refspecs.append(f"{ref}:{ref}")
        leases.append(f"--force-with-lease={ref}:{expected.get(ref) or ''}")
    if not refspecs:
        return []
    result = git(
        store.git_dir, "push", "--porcelain", *leases, remote, *refspecs, check=False
    )
    output = result.stdout.decode("utf-8", "replace")
    rejected = []
    for line in output.splitlines():
        flag, _, rest = line.partition("\t")
        if flag != "!":
            continue
        destination = rest.split("\t", 1)[0].split(":", 1)[-1]
        if destination not in SYNCED_NOTES_REFS:
            raise LightciError(
                f"pushing {destination} to {remote} was rejected: {rest.strip()}"
            )
        rejected.append(destination)
    if result.returncode != 0 and not rejected:
        detail = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise LightciError(f"pushing lightci's refs to {remote} failed: {detail}")
    return rejected

"""``lightci validate [FILE]``: check a pipeline file."""

from __future__ import annotations

from pathlib import Path

from lightci.errors import LightciError
from lightci.store import PIPELINE_FILES


def find_pipeline_file(start: Path) -> Path:
    """Return the pipeline file at the root of the working tree around ``start``."""
    import pygit2

    root = start
    found = pygit2.discover_repository(str(start))
    if found is not None:
        repo = pygit2.Repository(found)
        if repo.workdir:
            root = Path(repo.workdir)
    for name in PIPELINE_FILES:
        if (root / name).is_file():
            found_path = root / name
            # Shown relative to the current folder when it is below it, as
            # git shows paths.
            try:
                return found_path.relative_to(Path.cwd())
            except ValueError:
                return found_path
    raise LightciError(
        f"no {PIPELINE_FILES[0]} in {root}; write one with `lightci init` or "
        "name the file: `lightci validate FILE`"
    )


def validate_file(path: Path) -> str:
    """Load the pipeline at ``path`` and return a one-line summary.

    Raises PipelineError, located by file, line and key, when it is invalid.
    """
    from lightci.errors import PipelineError
    from lightci.pipeline import load_pipeline

    if path.name in PIPELINE_FILES and path.is_symlink():
        raise PipelineError(
            "is a symbolic link; a push reads the pipeline from the commit and "
            "does not follow links, so commit the file itself",
            filename=str(path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LightciError(f"cannot read {path}: {exc.strerror}") from exc
    pipeline = load_pipeline(data, str(path))
    count = len(pipeline.jobs)
    return f"{path}: valid, {count} job{'s' if count != 1 else ''}"

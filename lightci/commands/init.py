"""``lightci init``: write a starter ``.lightci.yml`` for the project found."""

from __future__ import annotations

from pathlib import Path

import pygit2

from lightci.errors import LightciError
from lightci.store import PIPELINE_FILES


def working_tree_root(start: Path) -> Path:
    """Return the root of the working tree around ``start``, or ``start`` itself."""
    found = pygit2.discover_repository(str(start))
    if found is None:
        return start
    repo = pygit2.Repository(found)
    if repo.workdir is None:
        raise LightciError(
            f"{start} is a bare repository; run `lightci init` in a clone, "
            "where the pipeline can be committed"
        )
    return Path(repo.workdir)


def init_pipeline(root: Path, *, force: bool = False) -> list[str]:
    """Write ``.lightci.yml`` in ``root``; return the lines to print."""
    from lightci.templates import starter_pipeline

    for name in PIPELINE_FILES:
        existing = root / name
        if existing.exists() and not force:
            raise LightciError(
                f"{existing} already exists; edit it, or replace it with "
                "`lightci init --force`"
            )
    kind, text = starter_pipeline(root)
    target = root / PIPELINE_FILES[0]
    target.write_text(text, encoding="utf-8")
    lines = [f"detected a {kind} project; wrote {target}"]
    for name in PIPELINE_FILES[1:]:
        if (root / name).exists():
            lines.append(f"{name} is now unused, because {target.name} comes first")
    lines.append("check it with `lightci validate`, then commit it")
    return lines

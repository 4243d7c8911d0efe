"""Starter pipelines that `lightci init` writes for the project it finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

_HEADER = """\
# lightci pipeline: each job runs its steps in order, in a fresh worktree of
# the commit. Jobs run in parallel unless one `needs` another. Keys you may
# add: on (branches, tags, paths, events), env, timeout, if, retry,
# allow-failure, artifacts, cache, secrets, matrix, working-directory.
# Check your edits with `lightci validate`.
"""

_PYTHON = """\
name: Python
env:
  PIP_CACHE_DIR: .cache/pip
jobs:
  test:
    timeout: 30m
    cache:
      key: pip-${{{{ hashFiles('{lock_files}') }}}}
      paths: [.cache/pip]
    steps:
      - name: Create a virtual environment
        run: python3 -m venv .venv
      - name: Install
        run: {install}
      - name: Test
        run: .venv/bin/python -m pytest
"""

_NODE = """\
name: Node.js
jobs:
  test:
    timeout: 30m
    steps:
      - name: Install
        run: {install}
{extra_steps}"""

_GO = """\
name: Go
jobs:
  test:
    timeout: 30m
    steps:
      - name: Vet
        run: go vet ./...
      - name: Test
        run: go test ./...
"""

_RUST = """\
name: Rust
jobs:
  test:
    timeout: 1h
    steps:
      - name: Build
        run: cargo build
      - name: Test
        run: cargo test
"""

_MAKE = """\
name: Make
jobs:
  build:
    timeout: 30m
    steps:
      - name: Build
        run: make
{test_step}"""

_GENERIC = """\
name: CI
jobs:
  build:
    timeout: 30m
    steps:
      # Replace this step with the commands that build and test the project.
      - name: Edit .lightci.yml
        run: echo "Edit .lightci.yml to build and test this project"
"""

_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


def starter_pipeline(project_dir: Path) -> tuple[str, str]:
    """Return (kind, YAML text) of a starter pipeline for `project_dir`.

    The kind is python, node, go, rust, make or generic, checked in that
    order, so a Makefile next to a pyproject.toml gives the Python pipeline.
    """
    if _has_any(project_dir, "pyproject.toml", "setup.py", "requirements.txt"):
        return "python", _HEADER + _python(project_dir)
    if (project_dir / "package.json").is_file():
        return "node", _HEADER + _node(project_dir)
    if (project_dir / "go.mod").is_file():
        return "go", _HEADER + _GO
    if (project_dir / "Cargo.toml").is_file():
        return "rust", _HEADER + _RUST
    makefile = next(
        (project_dir / name for name in _MAKEFILES if (project_dir / name).is_file()),
        None,
    )
    if makefile is not None:
        return "make", _HEADER + _make(makefile)
    return "generic", _HEADER + _GENERIC


def _has_any(project_dir: Path, *names: str) -> bool:
    return any((project_dir / name).is_file() for name in names)


def _python(project_dir: Path) -> str:
    installs: list[str] = []
    lock_files: list[str] = []
    if (project_dir / "requirements.txt").is_file():
        installs.append("-r requirements.txt")
        lock_files.append("requirements.txt")
    if _has_any(project_dir, "pyproject.toml", "setup.py"):
        installs.append("-e .")
        lock_files.extend(
            name
            for name in ("pyproject.toml", "setup.py")
            if (project_dir / name).is_file()
        )
    install = f".venv/bin/pip install {' '.join(installs)} pytest"
    return _PYTHON.format(install=install, lock_files="', '".join(lock_files))


def _node(project_dir: Path) -> str:
    if (project_dir / "pnpm-lock.yaml").is_file():
        install, runner = "pnpm install --frozen-lockfile", "pnpm"
    elif (project_dir / "yarn.lock").is_file():
        install, runner = "yarn install --frozen-lockfile", "yarn"
    elif (project_dir / "package-lock.json").is_file():
        install, runner = "npm ci", "npm"
    else:
        install, runner = "npm install", "npm"

    scripts = _package_scripts(project_dir / "package.json")
    steps = ""
    if "build" in scripts:
        steps += f"      - name: Build\n        run: {runner} run build\n"
    if "test" in scripts or not scripts:
        steps += f"      - name: Test\n        run: {runner} test\n"
    return _NODE.format(install=install, extra_steps=steps)


def _package_scripts(package_json: Path) -> set[str]:
    try:
        package = json.loads(package_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return set()
    scripts = package.get("scripts") if isinstance(package, dict) else None
    return set(scripts) if isinstance(scripts, dict) else set()


def _make(makefile: Path) -> str:
    try:
        text = makefile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    test_step = ""
    if re.search(r"^test\s*:(?!=)", text, re.MULTILINE):
        test_step = "      - name: Test\n        run: make test\n"
    return _MAKE.format(test_step=test_step)

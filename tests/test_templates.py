from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightci.pipeline import Pipeline, load_pipeline
from lightci.templates import starter_pipeline

PROJECTS: dict[str, dict[str, str]] = {
    "python-pyproject": {"pyproject.toml": "[project]\nname = 'x'\n"},
    "python-requirements": {"requirements.txt": "requests\n"},
    "python-setup": {"setup.py": "", "requirements.txt": ""},
    "node-npm": {
        "package.json": '{"scripts": {"test": "jest"}}',
        "package-lock.json": "{}",
    },
    "node-yarn": {
        "package.json": '{"scripts": {"build": "tsc", "test": "jest"}}',
        "yarn.lock": "",
    },
    "node-pnpm": {"package.json": "{}", "pnpm-lock.yaml": ""},
    "node-broken-json": {"package.json": "{"},
    "go": {"go.mod": "module example.com/x\n"},
    "rust": {"Cargo.toml": "[package]\nname = 'x'\n"},
    "make-with-test": {"Makefile": "all:\n\tcc x.c\n\ntest: all\n\t./x\n"},
    "make-without-test": {"makefile": "all:\n\tcc x.c\nTEST := 1\n"},
    "generic": {"README.md": "hello\n"},
}


def make_project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def starter(tmp_path: Path, files: dict[str, str]) -> tuple[str, Pipeline]:
    kind, text = starter_pipeline(make_project(tmp_path, files))
    return kind, load_pipeline(text.encode(), ".lightci.yml")


def runs(pipeline: Pipeline) -> list[str]:
    return [step.run for job in pipeline.jobs.values() for step in job.steps]


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_starter_loads(tmp_path: Path, project: str) -> None:
    kind, pipeline = starter(tmp_path, PROJECTS[project])
    assert project.startswith(kind)
    assert pipeline.jobs


def test_python_with_pyproject(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["python-pyproject"])
    assert runs(pipeline) == [
        "python3 -m venv .venv",
        ".venv/bin/pip install -e . pytest",
        ".venv/bin/python -m pytest",
    ]
    assert (
        pipeline.jobs["test"].cache[0].key == "pip-${{ hashFiles('pyproject.toml') }}"
    )


def test_python_with_requirements(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["python-setup"])
    assert runs(pipeline)[1] == ".venv/bin/pip install -r requirements.txt -e . pytest"
    key = pipeline.jobs["test"].cache[0].key
    assert key == "pip-${{ hashFiles('requirements.txt', 'setup.py') }}"


def test_node_npm(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["node-npm"])
    assert runs(pipeline) == ["npm ci", "npm test"]


def test_node_yarn_builds_and_tests(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["node-yarn"])
    assert runs(pipeline) == [
        "yarn install --frozen-lockfile",
        "yarn run build",
        "yarn test",
    ]


def test_node_pnpm_without_scripts(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["node-pnpm"])
    assert runs(pipeline) == ["pnpm install --frozen-lockfile", "pnpm test"]


def test_node_without_lock_file(tmp_path: Path) -> None:
    files = {"package.json": json.dumps({"scripts": {"lint": "eslint"}})}
    _, pipeline = starter(tmp_path, files)
    assert runs(pipeline) == ["npm install"]


def test_go(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["go"])
    assert runs(pipeline) == ["go vet ./...", "go test ./..."]


def test_rust(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["rust"])
    assert runs(pipeline) == ["cargo build", "cargo test"]


def test_make_with_test_target(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["make-with-test"])
    assert runs(pipeline) == ["make", "make test"]


def test_make_without_test_target(tmp_path: Path) -> None:
    _, pipeline = starter(tmp_path, PROJECTS["make-without-test"])
    assert runs(pipeline) == ["make"]


def test_python_wins_over_make(tmp_path: Path) -> None:
    files = {**PROJECTS["make-with-test"], **PROJECTS["python-pyproject"]}
    kind, _ = starter(tmp_path, files)
    assert kind == "python"


def test_generic_asks_for_edit(tmp_path: Path) -> None:
    kind, text = starter_pipeline(make_project(tmp_path, PROJECTS["generic"]))
    assert kind == "generic"
    assert "# Replace this step" in text


def test_starter_starts_with_comment(tmp_path: Path) -> None:
    _, text = starter_pipeline(tmp_path)
    assert text.startswith("# lightci pipeline:")

"""``lightci init`` writes a valid starter pipeline; ``lightci schema`` prints JSON."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, lightci


def make_clone(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    git(tmp_path, "init", "-q", str(repo))
    return repo


def test_init_python_project_validates(tmp_path: Path) -> None:
    repo = make_clone(tmp_path)
    (repo / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    (repo / "src").mkdir()

    written = lightci(repo / "src", "init")
    validated = lightci(repo, "validate")

    assert "detected a python project" in written.stdout
    assert (repo / ".lightci.yml").is_file()
    assert "valid" in validated.stdout


def test_init_keeps_existing_pipeline(tmp_path: Path) -> None:
    repo = make_clone(tmp_path)
    (repo / ".lightci.yml").write_text("jobs:\n  mine:\n    steps: [echo mine]\n")

    refused = lightci(repo, "init", check=False)
    forced = lightci(repo, "init", "--force")

    assert refused.returncode == 1
    assert "already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert "detected a generic project" in forced.stdout
    assert "mine" not in (repo / ".lightci.yml").read_text()


def test_init_in_bare_repository_fails(tmp_path: Path) -> None:
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))

    result = lightci(bare, "init", check=False)

    assert result.returncode == 1
    assert "bare repository" in result.stderr


def test_schema_prints_json_schema(tmp_path: Path) -> None:
    result = lightci(tmp_path, "schema")

    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert "jobs" in schema["properties"]

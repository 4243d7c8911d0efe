from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from lightci.pipeline import load_pipeline
from lightci.schema import pipeline_json_schema
from lightci.yamlsafe import load_yaml

jsonschema = pytest.importorskip("jsonschema")

EXAMPLES = {
    "minimal": """\
        jobs:
          build:
            steps: [make]
        """,
    "full": """\
        name: CI
        on:
          branches: [main, "!wip"]
          tags: "v*"
          paths-ignore: ["docs/**"]
          events: [push, manual]
        env: {A: NO, B: 3.10, C: true}
        timeout: 1h30m
        concurrency: ci-${{ branch }}
        jobs:
          build:
            name: Build
            timeout: 600
            retry: 2
            allow-failure: false
            artifacts: [dist/]
            cache:
              key: deps-${{ hashFiles('requirements.txt') }}
              paths: [.cache]
            secrets: [PYPI_TOKEN]
            working-directory: app
            steps:
              - make
              - run: make test
                name: test
                env: {VERBOSE: 1}
                timeout: 5m
                working-directory: tests
                if: success() && branch == 'main'
          test:
            needs: build
            if: always()
            retry: {max: 1, when: [timeout, 137, failure]}
            artifacts: {paths: [report.xml], expire-in: never}
            concurrency: {group: "t-${{ job }}", cancel-in-progress: true}
            on: {paths: ["src/**"]}
            matrix:
              python: [3.10, 3.11]
              os: [linux]
              include: [{python: 3.12, os: mac}]
              exclude: [{python: 3.10}]
            steps: ["pytest"]
        """,
}

INVALID = {
    "unknown key": "jobs: {a: {steps: [make], runs: x}}\n",
    "no jobs": "name: x\n",
    "empty jobs": "jobs: {}\n",
    "empty steps": "jobs: {a: {steps: []}}\n",
    "bad job name": "jobs: {'a b': {steps: [make]}}\n",
    "bad duration": "jobs: {a: {steps: [make], timeout: soon}}\n",
    "bad event": "on: {events: [pull]}\njobs: {a: {steps: [make]}}\n",
    "bad retry": "jobs: {a: {steps: [make], retry: 11}}\n",
    "bad secret": "jobs: {a: {steps: [make], secrets: [lower]}}\n",
    "bad step": "jobs: {a: {steps: [[make]]}}\n",
    "empty matrix list": "jobs: {a: {steps: [make], matrix: {os: []}}}\n",
}


def as_json_data(text: str) -> Any:
    # An editor validates what YAML 1.2 yields, which is what lightci loads.
    return load_yaml(textwrap.dedent(text)).data


def test_schema_is_valid_draft_2020_12() -> None:
    schema = pipeline_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_title_and_descriptions() -> None:
    schema = pipeline_json_schema()
    job = schema["$defs"]["Job"]["properties"]
    assert schema["title"] == "lightci pipeline"
    assert "description" in schema["properties"]["jobs"]
    assert "description" in job["allow-failure"]
    assert "description" in job["matrix"]


def test_schema_uses_hyphenated_keys() -> None:
    job = pipeline_json_schema()["$defs"]["Job"]["properties"]
    assert "working-directory" in job
    assert "allow-failure" in job
    assert "working_directory" not in job


def test_steps_need_items() -> None:
    steps = pipeline_json_schema()["$defs"]["Job"]["properties"]["steps"]
    assert steps["minItems"] == 1
    assert "minLength" not in steps


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_schema_accepts_examples(name: str) -> None:
    text = EXAMPLES[name]
    load_pipeline(textwrap.dedent(text).encode(), ".lightci.yml")
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    assert list(validator.iter_errors(as_json_data(text))) == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_schema_rejects_invalid(name: str) -> None:
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    assert list(validator.iter_errors(as_json_data(INVALID[name]))) != []


def test_schema_round_trips_through_json() -> None:
    schema = pipeline_json_schema()
    assert json.loads(json.dumps(schema)) == schema

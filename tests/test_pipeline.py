from __future__ import annotations

import textwrap

import pytest

from lightci.errors import PipelineError
from lightci.pipeline import Pipeline, Step, format_path, load_pipeline

FILE = ".lightci.yml"


def load(text: str) -> Pipeline:
    return load_pipeline(textwrap.dedent(text).encode(), FILE)


def error_of(text: str | bytes) -> PipelineError:
    data = textwrap.dedent(text).encode() if isinstance(text, str) else text
    with pytest.raises(PipelineError) as caught:
        load_pipeline(data, FILE)
    return caught.value


FULL = """\
    name: CI
    on:
      branches: [main, "release/**", "!release/old"]
      tags: ["v*"]
      paths-ignore: ["docs/**"]
      events: [push, manual]
    env:
      A: NO
      B: yes
      C: 3.10
      D: 007
    timeout: 1h30m
    concurrency: ci-${{ branch }}
    jobs:
      build:
        name: Build on ${{ branch }}
        steps:
          - make
          - run: make check
            name: check
            env: {VERBOSE: 1}
            timeout: 90
            working-directory: src
            if: success() && branch == 'main'
        retry: {max: 2, when: [timeout, 137]}
        artifacts: {paths: [dist/*.whl], expire-in: 7d}
        cache:
          key: pip-${{ hashFiles('requirements.txt', "setup.cfg") }}
          paths: [.cache/pip]
        secrets: [PYPI_TOKEN]
        concurrency: {group: "deploy-${{ job }}", cancel-in-progress: true}
      test:
        needs: build
        if: ${{ matrix.python != '3.10' || branch == 'main' }}
        matrix:
          python: [3.10, 3.11]
          os: [linux, mac]
          include:
            - {python: 3.12, os: linux, experimental: true}
        allow-failure: true
        retry: 1
        artifacts: [reports/]
        on: {paths: ["src/**", "!src/vendor/**"]}
        steps: ["pytest -k ${{ matrix.python }}"]
        working-directory: tests
"""


def test_full_pipeline_loads() -> None:
    pipeline = load(FULL)
    assert list(pipeline.jobs) == ["build", "test"]


def test_on_is_the_trigger_key() -> None:
    pipeline = load(FULL)
    assert pipeline.on is not None
    assert pipeline.on.branches == ("main", "release/**", "!release/old")
    assert pipeline.on.paths_ignore == ("docs/**",)
    assert pipeline.on.events == ("push", "manual")


def test_env_values_keep_their_text() -> None:
    pipeline = load(FULL)
    assert pipeline.env == {"A": "NO", "B": "yes", "C": "3.10", "D": "007"}


def test_step_env_number_becomes_text() -> None:
    step = load(FULL).jobs["build"].steps[1]
    assert step.env == {"VERBOSE": "1"}


def test_durations_parse_to_seconds() -> None:
    pipeline = load(FULL)
    assert pipeline.timeout == 5400.0
    assert pipeline.jobs["build"].steps[1].timeout == 90.0
    artifacts = pipeline.jobs["build"].artifacts
    assert artifacts is not None
    assert artifacts.expire_in == 7 * 86400.0


def test_string_step_is_a_run() -> None:
    assert load(FULL).jobs["build"].steps[0] == Step.model_validate({"run": "make"})


def test_needs_string_becomes_tuple() -> None:
    assert load(FULL).jobs["test"].needs == ("build",)


def test_retry_mapping() -> None:
    retry = load(FULL).jobs["build"].retry
    assert retry is not None
    assert retry.max == 2
    assert retry.when == ("timeout", 137)


def test_retry_count() -> None:
    retry = load(FULL).jobs["test"].retry
    assert retry is not None
    assert retry.max == 1
    assert retry.when is None


def test_artifacts_list_shorthand() -> None:
    artifacts = load(FULL).jobs["test"].artifacts
    assert artifacts is not None
    assert artifacts.paths == ("reports/",)
    assert artifacts.expire_in is None


def test_cache_mapping_becomes_list() -> None:
    caches = load(FULL).jobs["build"].cache
    assert len(caches) == 1
    assert caches[0].paths == (".cache/pip",)


def test_concurrency_forms() -> None:
    pipeline = load(FULL)
    assert pipeline.concurrency is not None
    assert pipeline.concurrency.group == "ci-${{ branch }}"
    assert pipeline.concurrency.cancel_in_progress is False
    job_concurrency = pipeline.jobs["build"].concurrency
    assert job_concurrency is not None
    assert job_concurrency.cancel_in_progress is True


def test_matrix_values_keep_their_text() -> None:
    matrix = load(FULL).jobs["test"].matrix
    assert matrix is not None
    assert matrix.axes == {"python": ("3.10", "3.11"), "os": ("linux", "mac")}
    assert matrix.include == (
        {"python": "3.12", "os": "linux", "experimental": "true"},
    )


def test_conditions_parse() -> None:
    job = load(FULL).jobs["test"]
    assert job.condition is not None
    assert job.condition.names == frozenset({"matrix.python", "branch"})


def test_expire_in_never() -> None:
    pipeline = load("""\
        jobs:
          a:
            steps: [make]
            artifacts: {paths: [out], expire-in: never}
        """)
    artifacts = pipeline.jobs["a"].artifacts
    assert artifacts is not None
    assert artifacts.expire_in is None


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90", 90), ("'90'", 90), ("1.5", 1.5), ("90s", 90), ("10m", 600),
     ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("1h 30m", 5400),
     ("0.5h", 1800)],
)  # fmt: skip
def test_duration_forms(written: str, seconds: float) -> None:
    pipeline = load(f"timeout: {written}\njobs: {{a: {{steps: [make]}}}}\n")
    assert pipeline.timeout == seconds


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0", "a duration must be more than zero, got 0"),
        ("-5", "a duration must be more than zero, got -5"),
        ("0s", "a duration must be more than zero, got '0s'"),
        ("10 minutes", "invalid duration '10 minutes'"),
        ("1x", "invalid duration '1x'"),
        ("true", "expected a duration such as 90, '10m' or '1h30m', got True"),
        ("[1]", "expected a duration such as 90, '10m' or '1h30m', got a list"),
        ("never", "invalid duration 'never'"),
    ],
)
def test_invalid_durations(written: str, message: str) -> None:
    error = error_of(f"jobs:\n  a:\n    steps: [make]\n    timeout: {written}\n")
    assert error.line == 4
    assert error.key == "jobs.a.timeout"
    assert error.message.startswith(message)


def test_unknown_step_key_suggests_closest() -> None:
    error = error_of("""\
        jobs:
          build:
            steps:
              - name: compile
                runs: make
        """)
    assert error.format() == (
        ".lightci.yml:5: jobs.build.steps[0]: unknown key 'runs'; did you mean "
        "'run'? Allowed keys: run, name, env, timeout, working-directory, if"
    )


def test_python_field_name_is_unknown_key() -> None:
    error = error_of("""\
        jobs:
          build:
            working_directory: src
            steps: [make]
        """)
    assert error.line == 3
    assert error.key == "jobs.build"
    assert "did you mean 'working-directory'?" in error.message


def test_unknown_top_level_key_without_suggestion() -> None:
    error = error_of("jobs: {a: {steps: [make]}}\nzzz: 1\n")
    assert error.line == 2
    assert error.key is None
    assert error.message.startswith("unknown key 'zzz'. Allowed keys: name, on,")


def test_duplicate_key_line() -> None:
    error = error_of("""\
        name: ci
        jobs:
          build:
            steps: [make]
          test:
            steps: [make test]
          build:
            steps: [make]
        """)
    assert error.line == 7
    assert error.message.startswith("duplicate key 'build'")


def test_yaml_syntax_error_line() -> None:
    error = error_of("jobs:\n  a:\n    steps: [make\n  b: 1\n")
    assert error.line == 4
    assert error.message.startswith("invalid YAML:")


def test_invalid_utf8_names_file_and_line() -> None:
    error = error_of(b"name: ci\njobs: {a: {steps: [\xff]}}\n")
    assert error.filename == FILE
    assert error.line == 2
    assert "not valid UTF-8" in error.message


def test_utf8_bom_is_accepted() -> None:
    pipeline = load_pipeline(b"\xef\xbb\xbfjobs: {a: {steps: [make]}}\n", FILE)
    assert list(pipeline.jobs) == ["a"]


def test_empty_file() -> None:
    error = error_of("")
    assert error.format() == (
        ".lightci.yml: the file is empty; it must contain a mapping of keys"
    )


def test_top_level_list() -> None:
    error = error_of("- a\n")
    assert error.line == 1
    assert "top level must be a mapping" in error.message


def test_missing_jobs() -> None:
    error = error_of("name: ci\n")
    assert error.message == "missing required key 'jobs'"
    assert error.key is None


def test_empty_jobs() -> None:
    error = error_of("jobs: {}\n")
    assert error.key == "jobs"
    assert error.message == "must not be empty"


def test_missing_steps() -> None:
    error = error_of("jobs:\n  a:\n    name: x\n")
    assert error.line == 2
    assert error.key == "jobs.a"
    assert error.message == "missing required key 'steps'"


def test_empty_steps() -> None:
    error = error_of("jobs:\n  a:\n    steps: []\n")
    assert error.key == "jobs.a.steps"
    assert error.message == "must not be empty"


def test_invalid_job_name() -> None:
    error = error_of("jobs:\n  ok: {steps: [make]}\n  'bad name': {steps: [make]}\n")
    assert error.line == 3
    assert error.key == "jobs"
    assert error.message.startswith("invalid job name 'bad name'")


def test_yes_is_not_a_boolean() -> None:
    error = error_of("jobs:\n  a:\n    steps: [make]\n    allow-failure: yes\n")
    assert error.format() == (
        ".lightci.yml:4: jobs.a.allow-failure: expected true or false, "
        "got the string 'yes'"
    )


def test_wrong_type_step() -> None:
    error = error_of("jobs:\n  a:\n    steps:\n      - make\n      - [a, b]\n")
    assert error.line == 5
    assert error.key == "jobs.a.steps[1]"
    assert error.message == "expected a mapping, got a list"


def test_wrong_type_run() -> None:
    error = error_of("jobs:\n  a:\n    steps:\n      - run: {x: 1}\n")
    assert error.key == "jobs.a.steps[0].run"
    assert error.message == "expected a string, got a mapping"


def test_null_env_value() -> None:
    error = error_of("env:\n  A:\njobs: {a: {steps: [make]}}\n")
    assert error.line == 2
    assert error.key == "env.A"
    assert error.message == "expected a string, got null"


def test_invalid_env_name() -> None:
    error = error_of("env:\n  OK: 1\n  1BAD: 2\njobs: {a: {steps: [make]}}\n")
    assert error.line == 3
    assert error.key == "env.1BAD"


def test_first_error_in_file_order() -> None:
    error = error_of("""\
        jobs:
          a:
            steps: [make]
            timeout: soon
          b:
            steps: [make]
            allow-failure: 1
        """)
    assert error.line == 4


def test_needs_unknown_job() -> None:
    error = error_of("""\
        jobs:
          build:
            steps: [make]
          test:
            needs: [build, lint]
            steps: [make test]
        """)
    assert error.format() == (
        ".lightci.yml:5: jobs.test.needs[1]: needs unknown job 'lint'; "
        "jobs are: build, test"
    )


def test_needs_unknown_job_string_form() -> None:
    error = error_of("jobs:\n  a:\n    needs: nope\n    steps: [make]\n")
    assert error.line == 3
    assert error.key == "jobs.a.needs"


def test_needs_cycle_is_named() -> None:
    error = error_of("""\
        jobs:
          a:
            needs: c
            steps: [make]
          b:
            needs: a
            steps: [make]
          c:
            needs: [b]
            steps: [make]
        """)
    assert error.line == 3
    assert error.key == "jobs.a.needs"
    assert error.message.startswith("needs form a cycle: a -> c -> b -> a;")


def test_needs_self_is_a_cycle() -> None:
    error = error_of("jobs:\n  a:\n    needs: a\n    steps: [make]\n")
    assert error.message.startswith("needs form a cycle: a -> a;")


def test_invalid_condition_has_line_and_column() -> None:
    error = error_of("""\
        jobs:
          a:
            steps:
              - run: make
                if: branch = 'main'
        """)
    assert error.line == 5
    assert error.key == "jobs.a.steps[0].if"
    assert error.message == (
        "invalid condition \"branch = 'main'\" at column 8: unexpected '='"
    )


def test_condition_unknown_matrix_key() -> None:
    error = error_of("""\
        jobs:
          a:
            matrix: {os: [linux]}
            if: matrix.python == '3'
            steps: [make]
        """)
    assert error.line == 4
    assert error.message.startswith("unknown matrix key 'python' in condition")


def test_unknown_substitution() -> None:
    error = error_of("""\
        jobs:
          a:
            steps:
              - echo ${{ branch }}
              - echo ${{ brnach }}
        """)
    assert error.line == 5
    assert error.key == "jobs.a.steps[1]"
    assert error.message.startswith("unknown expression '${{ brnach }}'; use one of")


def test_unknown_matrix_substitution() -> None:
    error = error_of("""\
        jobs:
          a:
            matrix: {os: [linux]}
            steps:
              - run: echo ${{ matrix.py }}
        """)
    assert error.line == 5
    assert error.key == "jobs.a.steps[0].run"
    assert error.message == "unknown matrix key 'py'; the job's matrix keys: os"


def test_matrix_in_pipeline_env_is_rejected() -> None:
    error = error_of("env: {A: '${{ matrix.os }}'}\njobs: {a: {steps: [make]}}\n")
    assert error.key == "env.A"
    assert "matrix values exist only inside a job" in error.message


def test_unclosed_substitution() -> None:
    error = error_of("jobs: {a: {steps: ['echo ${{ branch']}}\n")
    assert error.message == "'${{' is not closed by '}}'"


def test_hash_files_only_in_cache_key() -> None:
    error = error_of("jobs: {a: {steps: [\"echo ${{ hashFiles('x') }}\"]}}\n")
    assert error.message.startswith("unknown expression")


def test_invalid_hash_files_call() -> None:
    error = error_of("""\
        jobs:
          a:
            steps: [make]
            cache: {key: "${{ hashFiles(x) }}", paths: [.cache]}
        """)
    assert error.line == 4
    assert error.key == "jobs.a.cache.key"


def test_job_in_pipeline_concurrency_is_rejected() -> None:
    error = error_of("concurrency: g-${{ job }}\njobs: {a: {steps: [make]}}\n")
    assert error.key == "concurrency"


@pytest.mark.parametrize(
    ("directory", "message"),
    [
        ("/abs", "path '/abs' must be relative to the workspace"),
        ("../up", "path '../up' must not leave the workspace with '..'"),
        ("a/../../b", "path 'a/../../b' must not leave the workspace with '..'"),
        ("~/x", "path '~/x' must be relative to the workspace"),
    ],
)
def test_working_directory_must_stay_inside(directory: str, message: str) -> None:
    error = error_of(
        f"jobs:\n  a:\n    steps:\n      - run: make\n"
        f"        working-directory: '{directory}'\n"
    )
    assert error.line == 5
    assert error.key == "jobs.a.steps[0].working-directory"
    assert error.message == message


def test_invalid_event() -> None:
    error = error_of("on: {events: [push, pull]}\njobs: {a: {steps: [make]}}\n")
    assert error.key == "on.events[1]"
    assert error.message.startswith("invalid value 'pull'; expected 'push'")


def test_only_negated_patterns_rejected() -> None:
    error = error_of("on: {branches: ['!main']}\njobs: {a: {steps: [make]}}\n")
    assert error.key == "on.branches"
    assert error.message.startswith("a list of only '!' patterns matches nothing")


def test_negation_in_ignore_list_rejected() -> None:
    error = error_of("on:\n  paths-ignore: [a, '!b']\njobs: {a: {steps: [make]}}\n")
    assert error.key == "on.paths-ignore[1]"


def test_branches_string_becomes_list() -> None:
    pipeline = load("on: {branches: main}\njobs: {a: {steps: [make]}}\n")
    assert pipeline.on is not None
    assert pipeline.on.branches == ("main",)


def test_invalid_secret_name() -> None:
    error = error_of("jobs:\n  a:\n    steps: [make]\n    secrets: [TOKEN, api_key]\n")
    assert error.key == "jobs.a.secrets[1]"
    assert error.message.startswith("invalid secret name 'api_key'")


@pytest.mark.parametrize(
    ("retry", "key", "message"),
    [
        ("-1", "jobs.a.retry.max", "must be at least 0, got -1"),
        ("11", "jobs.a.retry.max", "must be at most 10, got 11"),
        ("{max: 2, when: [oom]}", "jobs.a.retry.when[0]", "invalid retry condition"),
        ("{max: 2, when: [0]}", "jobs.a.retry.when[0]", "exit code 0 is out of range"),
        ("{max: 2, when: []}", "jobs.a.retry.when", "must list at least one"),
        ("{when: [1]}", "jobs.a.retry", "missing required key 'max'"),
        ("yes", "jobs.a.retry", "expected a mapping, got the string 'yes'"),
    ],
)
def test_invalid_retry(retry: str, key: str, message: str) -> None:
    error = error_of(f"jobs:\n  a:\n    steps: [make]\n    retry: {retry}\n")
    assert error.line == 4
    assert error.key == key
    assert error.message.startswith(message)


def test_retry_when_string() -> None:
    pipeline = load("jobs: {a: {steps: [make], retry: {max: 1, when: timeout}}}\n")
    retry = pipeline.jobs["a"].retry
    assert retry is not None
    assert retry.when == ("timeout",)


@pytest.mark.parametrize(
    ("matrix", "line", "key", "message"),
    [
        ("{os: []}", 4, "jobs.a.matrix.os", "must list at least one value"),
        ("{os: linux}", 4, "jobs.a.matrix.os", "expected a list of values"),
        ("{os: [[a]]}", 4, "jobs.a.matrix.os[0]", "expected a string, number"),
        ("{os: [a, a]}", 4, "jobs.a.matrix.os[1]", "duplicate matrix value 'a'"),
        ("[a, b]", 4, "jobs.a.matrix", "expected a mapping of names"),
        ("{}", 4, "jobs.a.matrix", "a matrix needs at least one list"),
        (
            "\n      os: [a]\n      exclude: [{cpu: x}]",
            6,
            "jobs.a.matrix.exclude[0].cpu",
            "exclude names 'cpu', which is not a matrix key",
        ),
        (
            "\n      os: [a]\n      exclude: [{os: a}]",
            4,
            "jobs.a.matrix",
            "the matrix has no combinations left after exclude",
        ),
        ("{os: [a], include: [x]}", 4, "jobs.a.matrix.include[0]", "expected a"),
    ],
)
def test_invalid_matrix(matrix: str, line: int, key: str, message: str) -> None:
    error = error_of(f"jobs:\n  a:\n    steps: [make]\n    matrix: {matrix}\n")
    assert error.line == line
    assert error.key == key
    assert error.message.startswith(message)


def test_model_accepts_python_names() -> None:
    step = Step.model_validate({"run": "make", "working_directory": "src"})
    assert step.working_directory == "src"


def test_models_are_frozen() -> None:
    step = Step.model_validate({"run": "make"})
    with pytest.raises(ValueError, match="frozen"):
        step.run = "other"


def test_format_path() -> None:
    assert format_path(("jobs", "a", "steps", 0, "run")) == "jobs.a.steps[0].run"


def test_github_event_level_gets_hint() -> None:
    error = error_of("""\
        on:
          push:
            branches: [main]
        jobs: {a: {steps: [make]}}
        """)
    assert error.line == 2
    assert error.key == "on"
    assert error.message.startswith("'on' takes its filters directly, with no 'push:'")


def test_unquoted_substitution_in_flow_list_gets_hint() -> None:
    error = error_of("jobs:\n  a:\n    steps: [echo ${{ branch }}]\n")
    assert error.line == 3
    assert error.message.endswith(
        "put quotes around a value that contains '${{ ... }}'"
    )


def test_syntax_error_elsewhere_has_no_quoting_hint() -> None:
    error = error_of("jobs:\n  a:\n    steps: [make\n  b: 1\n")
    assert "quotes" not in error.message


@pytest.mark.parametrize("written", ["false", "true"])
def test_boolean_condition(written: str) -> None:
    pipeline = load(f"""\
        jobs:
          a:
            if: {written}
            steps:
              - run: make
                if: {written}
        """)
    job = pipeline.jobs["a"]
    assert job.if_ == written
    assert job.steps[0].if_ == written

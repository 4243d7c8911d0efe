from __future__ import annotations

import textwrap

import pytest

from lightci.errors import PipelineError
from lightci.pipeline import Pipeline, load_pipeline
from lightci.plan import (
    JobPlan,
    RetryPolicy,
    RunContext,
    glob_match,
    pipeline_matches,
    plan_jobs,
    substitute,
)

MAIN = RunContext(number=7, commit="c0ffee", ref="refs/heads/main", event="push")


def load(text: str) -> Pipeline:
    return load_pipeline(textwrap.dedent(text).encode(), ".lightci.yml")


def names(plans: list[JobPlan]) -> list[str]:
    return [plan.name for plan in plans]


def context(ref: str, changed: tuple[str, ...] | None = None) -> RunContext:
    return RunContext(
        number=1, commit="abc", ref=ref, event="push", changed_paths=changed
    )


def by_name(plans: list[JobPlan], name: str) -> JobPlan:
    return next(plan for plan in plans if plan.name == name)


def test_run_context_branch_and_tag() -> None:
    tag = context("refs/tags/v1.0")
    assert MAIN.branch == "main"
    assert MAIN.tag is None
    assert tag.branch is None
    assert tag.tag == "v1.0"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "setup.py", True),
        ("*.py", "src/setup.py", False),
        ("**.py", "src/a/setup.py", True),
        ("src/**", "src/a/b.c", True),
        ("src/**", "srcs/a", False),
        ("**/test_*.py", "test_a.py", True),
        ("**/test_*.py", "tests/unit/test_a.py", True),
        ("docs/*", "docs/a/b.md", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", False),
        ("v?.?", "v1.2", True),
        ("v?.?", "v1/2", False),
        ("v[0-9].*", "v3.x", True),
        ("v[!0-9]*", "v3", False),
        ("v[!0-9]*", "vx", True),
        ("a+b(c)", "a+b(c)", True),
        ("[", "[", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


BRANCH_FILTER = """\
    on:
      branches: [main, "release/**", "!release/old"]
    jobs: {a: {steps: [make]}}
"""


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("refs/heads/main", True),
        ("refs/heads/release/1.x", True),
        ("refs/heads/release/old", False),
        ("refs/heads/feature", False),
        ("refs/tags/v1", False),
        ("HEAD", True),
    ],
)
def test_branch_filter_with_exclusion(ref: str, expected: bool) -> None:
    assert pipeline_matches(load(BRANCH_FILTER), context(ref)) is expected


def test_exclusion_before_inclusion_is_overridden() -> None:
    pipeline = load("on: {branches: ['!main', '*']}\njobs: {a: {steps: [make]}}\n")
    assert pipeline_matches(pipeline, context("refs/heads/main")) is True


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("refs/heads/main", False),
        ("refs/tags/v1.2", True),
        ("refs/tags/v1.2-rc1", False),
    ],
)
def test_tag_filter_leaves_out_branches(ref: str, expected: bool) -> None:
    pipeline = load("""\
        on: {tags: ["v*"], tags-ignore: ["*-rc*"]}
        jobs: {a: {steps: [make]}}
        """)
    assert pipeline_matches(pipeline, context(ref)) is expected


def test_branches_ignore() -> None:
    pipeline = load("on: {branches-ignore: ['wip/**']}\njobs: {a: {steps: [make]}}\n")
    assert pipeline_matches(pipeline, context("refs/heads/wip/x")) is False
    assert pipeline_matches(pipeline, context("refs/heads/main")) is True


def test_event_filter() -> None:
    pipeline = load("on: {events: [manual]}\njobs: {a: {steps: [make]}}\n")
    assert pipeline_matches(pipeline, MAIN) is False


PATH_FILTER = """\
    on:
      paths: ["src/**", "!src/vendor/**"]
    jobs: {a: {steps: [make]}}
"""


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (("src/a/b/c.py",), True),
        (("docs/index.md",), False),
        (("src/vendor/lib.c",), False),
        (("src/vendor/lib.c", "src/main.c"), True),
        ((), False),
        (None, True),
    ],
)
def test_path_filter(changed: tuple[str, ...] | None, expected: bool) -> None:
    ctx = context("refs/heads/main", changed)
    assert pipeline_matches(load(PATH_FILTER), ctx) is expected


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (("docs/a.md", "README.md"), False),
        (("docs/a.md", "src/x.py"), True),
        ((), True),
    ],
)
def test_paths_ignore(changed: tuple[str, ...], expected: bool) -> None:
    pipeline = load("""\
        on: {paths-ignore: ["docs/**", "*.md"]}
        jobs: {a: {steps: [make]}}
        """)
    ctx = context("refs/heads/main", changed)
    assert pipeline_matches(pipeline, ctx) is expected


MATRIX = """\
    jobs:
      build:
        steps: [make]
      test:
        needs: build
        matrix:
          python: [3.10, 3.11, 3.12]
          os: [linux, mac]
          exclude:
            - {python: 3.12, os: mac}
        steps:
          - run: tox -e py${{ matrix.python }}
        env:
          TARGET: ${{ matrix.os }}-${{ branch }}
      report:
        needs: [test]
        steps: [echo done]
"""


def test_matrix_with_exclusion_gives_five_jobs() -> None:
    plans = plan_jobs(load(MATRIX), MAIN)
    assert names(plans) == [
        "build",
        "test (3.10, linux)",
        "test (3.10, mac)",
        "test (3.11, linux)",
        "test (3.11, mac)",
        "test (3.12, linux)",
        "report",
    ]


def test_matrix_values_substituted() -> None:
    plan = by_name(plan_jobs(load(MATRIX), MAIN), "test (3.10, mac)")
    assert plan.matrix == {"python": "3.10", "os": "mac"}
    assert plan.base_name == "test"
    assert plan.steps[0].run == "tox -e py3.10"
    assert plan.env["TARGET"] == "mac-main"
    assert plan.steps[0].env["TARGET"] == "mac-main"


def test_needs_on_matrix_job_expands() -> None:
    plan = by_name(plan_jobs(load(MATRIX), MAIN), "report")
    assert plan.needs == (
        "test (3.10, linux)",
        "test (3.10, mac)",
        "test (3.11, linux)",
        "test (3.11, mac)",
        "test (3.12, linux)",
    )


def test_matrix_job_needs_plain_job() -> None:
    plan = by_name(plan_jobs(load(MATRIX), MAIN), "test (3.11, mac)")
    assert plan.needs == ("build",)


INCLUDE = """\
    jobs:
      test:
        matrix:
          os: [linux, mac]
          python: ["3.11"]
          include:
            - {os: mac, arch: arm64}
            - {os: windows, python: "3.12"}
            - {label: nightly}
        name: test on ${{ matrix.os }} ${{ matrix.arch }}
        steps: [make]
"""


def test_include_extends_and_adds() -> None:
    plans = plan_jobs(load(INCLUDE), MAIN)
    assert names(plans) == [
        "test (linux, 3.11, nightly)",
        "test (mac, 3.11, arm64, nightly)",
        "test (windows, 3.12)",
    ]


def test_include_extra_keys_in_matrix() -> None:
    plan = plan_jobs(load(INCLUDE), MAIN)[1]
    assert plan.matrix == {
        "os": "mac",
        "python": "3.11",
        "arch": "arm64",
        "label": "nightly",
    }


def test_display_name_substituted() -> None:
    plans = plan_jobs(load(INCLUDE), MAIN)
    assert plans[1].display_name == "test on mac arm64"
    assert plans[0].display_name == "test on linux "


def test_include_only_matrix() -> None:
    pipeline = load("""\
        jobs:
          a:
            matrix:
              include: [{target: x86}, {target: arm}]
            steps: [make]
        """)
    assert names(plan_jobs(pipeline, MAIN)) == ["a (x86)", "a (arm)"]


def test_repeated_include_is_rejected_at_load() -> None:
    with pytest.raises(PipelineError) as caught:
        load("""\
            jobs:
              a:
                matrix:
                  include: [{target: x86}, {target: x86}]
                steps: [make]
            """)
    assert caught.value.key == "jobs.a.matrix"
    assert caught.value.message.startswith("two matrix combinations are both (x86)")


def test_order_is_topological_and_stable() -> None:
    pipeline = load("""\
        jobs:
          deploy:
            needs: [test, lint]
            steps: [make deploy]
          test:
            needs: build
            steps: [make test]
          lint:
            steps: [make lint]
          build:
            steps: [make]
        """)
    assert names(plan_jobs(pipeline, MAIN)) == ["lint", "build", "test", "deploy"]


def test_job_on_filter_omits_and_rewires_needs() -> None:
    pipeline = load("""\
        jobs:
          build:
            steps: [make]
          docs:
            needs: build
            on: {paths: ["docs/**"]}
            steps: [make docs]
          publish:
            needs: docs
            steps: [make publish]
        """)
    plans = plan_jobs(pipeline, context("refs/heads/main", ("src/a.c",)))
    assert names(plans) == ["build", "publish"]
    assert plans[1].needs == ("build",)


def test_job_on_filter_keeps_matching_job() -> None:
    pipeline = load("""\
        jobs:
          deploy:
            on: {branches: [main]}
            steps: [make deploy]
        """)
    assert names(plan_jobs(pipeline, MAIN)) == ["deploy"]
    assert plan_jobs(pipeline, context("refs/heads/dev")) == []


FULL_JOB = """\
    env: {SHARED: a, OVERRIDE: pipeline}
    jobs:
      build:
        env: {OVERRIDE: job, JOB: "${{ job }}"}
        timeout: 10m
        retry: {max: 2, when: [timeout, 137]}
        allow-failure: true
        if: branch == 'main'
        artifacts: {paths: [dist/], expire-in: 1d}
        cache:
          - key: deps-${{ branch }}-${{ hashFiles('requirements.txt') }}
            paths: [.cache]
        secrets: [TOKEN]
        working-directory: app
        steps:
          - name: compile
            run: make
            env: {OVERRIDE: step}
            timeout: 30s
            if: always()
          - run: |
              echo one
              echo two
            working-directory: other
"""


def test_job_plan_fields() -> None:
    plan = plan_jobs(load(FULL_JOB), MAIN)[0]
    assert plan.env == {"SHARED": "a", "OVERRIDE": "job", "JOB": "build"}
    assert plan.timeout == 600.0
    assert plan.retry == RetryPolicy(3, frozenset({137}), on_timeout=True)
    assert plan.allow_failure is True
    assert plan.condition is not None
    assert plan.condition.text == "branch == 'main'"
    assert plan.artifacts is not None
    assert plan.artifacts.paths == ("dist/",)
    assert plan.artifacts.expire_in == 86400.0
    assert (
        plan.caches[0].key_template == "deps-main-${{ hashFiles('requirements.txt') }}"
    )
    assert plan.caches[0].paths == (".cache",)
    assert plan.secrets == ("TOKEN",)
    assert plan.working_directory == "app"
    assert plan.matrix == {}
    assert plan.display_name is None


def test_step_plan_fields() -> None:
    first, second = plan_jobs(load(FULL_JOB), MAIN)[0].steps
    assert first.name == "compile"
    assert first.env["OVERRIDE"] == "step"
    assert first.env["SHARED"] == "a"
    assert first.timeout == 30.0
    assert first.working_directory == "app"
    assert first.condition is not None
    assert first.condition.uses_status_function is True
    assert second.name == "echo one..."
    assert second.working_directory == "other"
    assert second.condition is None


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ("0", RetryPolicy(1, frozenset(), on_timeout=False)),
        ("2", RetryPolicy(3, None, on_timeout=True)),
        ("{max: 1, when: [failure]}", RetryPolicy(2, None, on_timeout=False)),
        ("{max: 1, when: [timeout]}", RetryPolicy(2, frozenset(), on_timeout=True)),
        ("{max: 1, when: [1, 2]}", RetryPolicy(2, frozenset({1, 2}), False)),
    ],
)
def test_retry_policy(retry: str, expected: RetryPolicy) -> None:
    pipeline = load(f"jobs:\n  a:\n    steps: [make]\n    retry: {retry}\n")
    assert plan_jobs(pipeline, MAIN)[0].retry == expected


def test_no_retry_by_default() -> None:
    plan = plan_jobs(load("jobs: {a: {steps: [make]}}\n"), MAIN)[0]
    assert plan.retry.max_attempts == 1


def test_substitute_names() -> None:
    text = "${{ branch }}|${{tag}}|${{ ref }}|${{ event }}|${{ commit }}|${{ job }}"
    assert substitute(text, MAIN, {}, job="b") == "main||refs/heads/main|push|c0ffee|b"


def test_substitute_matrix() -> None:
    assert substitute("py${{ matrix.v }}${{ matrix.x }}", MAIN, {"v": "3"}) == "py3"


def test_substitute_keeps_hash_files() -> None:
    text = "k-${{ hashFiles('a') }}"
    assert substitute(text, MAIN, {}) == text


def test_substitute_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown expression"):
        substitute("${{ nope }}", MAIN, {})

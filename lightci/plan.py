"""Turn a pipeline and the context of a run into the concrete jobs to run.

The engine calls `pipeline_matches` first and, when it matches, `plan_jobs`,
which expands each matrix, drops jobs whose own `on` filter does not match,
fills in `${{ ... }}` substitutions and orders the jobs by their needs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lightci.conditions import Condition
from lightci.errors import PipelineError
from lightci.pipeline import (
    HASH_FILES,
    MATRIX_REFERENCE,
    SUBSTITUTION,
    Job,
    Pipeline,
    Retry,
    Triggers,
)

_HEADS = "refs/heads/"
_TAGS = "refs/tags/"


@dataclass(frozen=True)
class RunContext:
    """The trigger of a run: its number, commit, ref and event.

    `ref` is a full ref such as `refs/heads/main`. `event` is one of push,
    pre-push, post-commit, manual and retry. `changed_paths` are the files the
    push changes, or None when they are unknown, in which case every path
    filter matches.
    """

    number: int
    commit: str
    ref: str
    event: str
    changed_paths: tuple[str, ...] | None = None

    @property
    def branch(self) -> str | None:
        """The branch name when `ref` is a branch, else None."""
        return self.ref[len(_HEADS) :] if self.ref.startswith(_HEADS) else None

    @property
    def tag(self) -> str | None:
        """The tag name when `ref` is a tag, else None."""
        return self.ref[len(_TAGS) :] if self.ref.startswith(_TAGS) else None


@dataclass(frozen=True)
class StepPlan:
    """One step, ready to run.

    `env` contains the job's variables with the step's own on top, and
    `working_directory` falls back to the job's.
    """

    name: str
    run: str
    env: Mapping[str, str]
    timeout: float | None
    working_directory: str | None
    condition: Condition | None


@dataclass(frozen=True)
class RetryPolicy:
    """The retry policy of a job: when a failed job runs again.

    `max_attempts` counts the first attempt, so 1 means no retry.
    `on_exit_codes` None retries after any failing exit code, and an empty set
    after none. `on_timeout` retries after a timeout.
    """

    max_attempts: int
    on_exit_codes: frozenset[int] | None
    on_timeout: bool


NO_RETRY = RetryPolicy(max_attempts=1, on_exit_codes=frozenset(), on_timeout=False)


@dataclass(frozen=True)
class ArtifactSpec:
    """Paths or globs a job keeps, and their lifetime in seconds (None: never
    expires)."""

    paths: tuple[str, ...]
    expire_in: float | None


@dataclass(frozen=True)
class CacheSpec:
    """A cached folder set. `key_template` may still contain
    `${{ hashFiles(...) }}`, which the engine computes in the workspace."""

    key_template: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class JobPlan:
    """One concrete job: a job of the file, or one combination of its matrix.

    `name` identifies it, such as `test (3.11, linux)` for a matrix job, and
    `needs` lists concrete names. `display_name` is the substituted `name:`
    key of the job, or None without one.
    """

    name: str
    base_name: str
    needs: tuple[str, ...]
    steps: tuple[StepPlan, ...]
    env: Mapping[str, str]
    matrix: Mapping[str, str]
    timeout: float | None
    retry: RetryPolicy
    allow_failure: bool
    condition: Condition | None
    artifacts: ArtifactSpec | None
    caches: tuple[CacheSpec, ...]
    secrets: tuple[str, ...]
    working_directory: str | None
    display_name: str | None = None


# Globs and trigger filters.


@functools.lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif character == "*":
            parts.append("[^/]*")
            index += 1
        elif character == "?":
            parts.append("[^/]")
            index += 1
        elif character == "[":
            end = pattern.find("]", index + 2)
            if end == -1:
                parts.append(re.escape(character))
                index += 1
                continue
            body = pattern[index + 1 : end]
            if body[0] in "!^":
                body = "^" + body[1:]
            parts.append("[" + body.replace("\\", "\\\\") + "]")
            index = end + 1
        else:
            parts.append(re.escape(character))
            index += 1
    return re.compile("".join(parts), re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    """Match `path` against a glob.

    `*` matches within one path segment, `**` across segments (and `**/` also
    matches no folder at all), `?` matches one character other than `/`, and
    `[abc]`, `[a-z]` and `[!abc]` are character classes.
    """
    return _glob_regex(pattern).fullmatch(path) is not None


def _match_patterns(patterns: Iterable[str], value: str) -> bool:
    # As in GitHub Actions, the last pattern that matches decides, so
    # `[main, "release/**", "!release/old"]` leaves out release/old.
    included = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if glob_match(pattern[1:], value):
                included = False
        elif glob_match(pattern, value):
            included = True
    return included


def _ref_matches(
    name: str,
    include: tuple[str, ...] | None,
    ignore: tuple[str, ...] | None,
) -> bool:
    if include is not None and not _match_patterns(include, name):
        return False
    return not (ignore is not None and _match_patterns(ignore, name))


def triggers_match(triggers: Triggers | None, ctx: RunContext) -> bool:
    """Decide whether `on` filters let a run of `ctx` through.

    Each filter that is set must match. A filter on branches alone leaves out
    every tag, and a filter on tags alone every branch, as in GitHub Actions.
    A ref that is neither a branch nor a tag passes the ref filters.
    """
    if triggers is None:
        return True
    if triggers.events is not None and ctx.event not in triggers.events:
        return False

    branch_filtered = triggers.branches is not None or triggers.branches_ignore
    tag_filtered = triggers.tags is not None or triggers.tags_ignore
    if ctx.branch is not None:
        if tag_filtered and not branch_filtered:
            return False
        if not _ref_matches(ctx.branch, triggers.branches, triggers.branches_ignore):
            return False
    if ctx.tag is not None:
        if branch_filtered and not tag_filtered:
            return False
        if not _ref_matches(ctx.tag, triggers.tags, triggers.tags_ignore):
            return False

    return _paths_match(triggers, ctx.changed_paths)


def _paths_match(triggers: Triggers, changed: tuple[str, ...] | None) -> bool:
    if changed is None:
        return True
    if triggers.paths is not None:
        patterns = triggers.paths
        if not any(_match_patterns(patterns, path) for path in changed):
            return False
    if triggers.paths_ignore is not None and changed:
        ignored = triggers.paths_ignore
        if all(_match_patterns(ignored, path) for path in changed):
            return False
    return True


def pipeline_matches(pipeline: Pipeline, ctx: RunContext) -> bool:
    """Decide whether the pipeline's `on` filters let a run of `ctx` through."""
    return triggers_match(pipeline.on, ctx)


# Substitution.


def substitute(
    text: str,
    ctx: RunContext,
    matrix: Mapping[str, str],
    job: str | None = None,
) -> str:
    """Replace each `${{ NAME }}` in `text` with its value.

    NAME is `branch`, `tag`, `ref`, `event`, `commit`, `job` or `matrix.KEY`.
    A branch or tag that the ref is not, a matrix key that this combination
    lacks, and `job` without `job` given, become empty text.
    `${{ hashFiles(...) }}` is kept for the engine to compute. Raises
    ValueError for any other name, which `load_pipeline` rejects beforehand.
    """
    values = {
        "branch": ctx.branch or "",
        "tag": ctx.tag or "",
        "ref": ctx.ref,
        "event": ctx.event,
        "commit": ctx.commit,
        "job": job or "",
    }

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        if expression in values:
            return values[expression]
        matrix_match = MATRIX_REFERENCE.fullmatch(expression)
        if matrix_match:
            return matrix.get(matrix_match.group(1), "")
        if HASH_FILES.fullmatch(expression):
            return match.group()
        raise ValueError(f"unknown expression '${{{{ {expression} }}}}'")

    return SUBSTITUTION.sub(replace, text)


# Planning.


def plan_jobs(
    pipeline: Pipeline, ctx: RunContext, *, filename: str = ".lightci.yml"
) -> list[JobPlan]:
    """Expand the pipeline's jobs for a run of `ctx`, ordered by their needs.

    This does not apply the pipeline's own `on` filter. A job whose `on`
    filter does not match is left out, and a job that needs it needs what it
    needed instead. Jobs come in file order, except that each job comes after
    every job it needs. Raises PipelineError when two jobs get the same name
    or a matrix has no combination, which `load_pipeline` rejects beforehand.
    """
    included = {
        name: job for name, job in pipeline.jobs.items() if triggers_match(job.on, ctx)
    }
    concrete: dict[str, list[str]] = {}
    plans: list[JobPlan] = []
    for base_name, job in included.items():
        for matrix in _combinations(base_name, job, filename):
            plan = _plan_job(pipeline, base_name, job, matrix, ctx)
            if any(plan.name == other.name for other in plans):
                raise PipelineError(
                    f"two matrix combinations are both named '{plan.name}'",
                    filename=filename,
                    key=f"jobs.{base_name}.matrix",
                )
            plans.append(plan)
            concrete.setdefault(base_name, []).append(plan.name)

    resolved = {
        plan.name: _concrete_needs(pipeline, plan.base_name, included, concrete)
        for plan in plans
    }
    plans = [dataclasses.replace(plan, needs=resolved[plan.name]) for plan in plans]
    return _order(plans, filename)


def _combinations(base_name: str, job: Job, filename: str) -> list[dict[str, str]]:
    if job.matrix is None:
        return [{}]
    combinations = job.matrix.combinations()
    if not combinations:
        raise PipelineError(
            "the matrix has no combinations left after exclude",
            filename=filename,
            key=f"jobs.{base_name}.matrix",
        )
    return combinations


def _concrete_needs(
    pipeline: Pipeline,
    base_name: str,
    included: Mapping[str, Job],
    concrete: Mapping[str, list[str]],
) -> tuple[str, ...]:
    names: list[str] = []
    pending = list(pipeline.jobs[base_name].needs)
    seen: set[str] = set()
    while pending:
        needed = pending.pop(0)
        if needed in seen:
            continue
        seen.add(needed)
        if needed in included:
            names.extend(name for name in concrete[needed] if name not in names)
        else:
            pending.extend(pipeline.jobs[needed].needs)
    return tuple(names)


def _order(plans: list[JobPlan], filename: str) -> list[JobPlan]:
    """Sort plans so each comes after its needs, otherwise keeping their order."""
    done: set[str] = set()
    ordered: list[JobPlan] = []
    remaining = list(plans)
    while remaining:
        ready = next(
            (plan for plan in remaining if all(name in done for name in plan.needs)),
            None,
        )
        if ready is None:
            names = ", ".join(plan.name for plan in remaining)
            raise PipelineError(f"needs form a cycle among {names}", filename=filename)
        remaining.remove(ready)
        ordered.append(ready)
        done.add(ready.name)
    return ordered


def _plan_job(
    pipeline: Pipeline,
    base_name: str,
    job: Job,
    matrix: dict[str, str],
    ctx: RunContext,
) -> JobPlan:
    name = base_name
    if job.matrix is not None:
        name = f"{base_name} ({job.matrix.label(matrix)})"

    def fill(text: str) -> str:
        return substitute(text, ctx, matrix, job=name)

    env = {key: fill(value) for key, value in {**pipeline.env, **job.env}.items()}
    steps = tuple(
        StepPlan(
            name=fill(step.name)
            if step.name is not None
            else _default_step_name(fill(step.run)),
            run=fill(step.run),
            env={**env, **{key: fill(value) for key, value in step.env.items()}},
            timeout=step.timeout,
            working_directory=step.working_directory or job.working_directory,
            condition=step.condition,
        )
        for step in job.steps
    )
    return JobPlan(
        name=name,
        base_name=base_name,
        needs=job.needs,
        steps=steps,
        env=env,
        matrix=dict(matrix),
        timeout=job.timeout,
        retry=_retry_policy(job.retry),
        allow_failure=job.allow_failure,
        condition=job.condition,
        artifacts=(
            None
            if job.artifacts is None
            else ArtifactSpec(job.artifacts.paths, job.artifacts.expire_in)
        ),
        caches=tuple(
            CacheSpec(key_template=fill(cache.key), paths=cache.paths)
            for cache in job.cache
        ),
        secrets=job.secrets,
        working_directory=job.working_directory,
        display_name=None if job.name is None else fill(job.name),
    )


def _default_step_name(run: str) -> str:
    lines = [line.strip() for line in run.splitlines() if line.strip()]
    first = lines[0] if lines else run.strip()
    if len(first) > 60 or len(lines) > 1:
        return first[:57].rstrip() + "..."
    return first


def _retry_policy(retry: Retry | None) -> RetryPolicy:
    if retry is None or retry.max == 0:
        return NO_RETRY
    if retry.when is None:
        return RetryPolicy(retry.max + 1, on_exit_codes=None, on_timeout=True)
    codes = frozenset(item for item in retry.when if isinstance(item, int))
    return RetryPolicy(
        max_attempts=retry.max + 1,
        on_exit_codes=None if "failure" in retry.when else codes,
        on_timeout="timeout" in retry.when,
    )

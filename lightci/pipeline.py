"""The pipeline file, `.lightci.yml`: its models and its loader.

A pipeline names its jobs under `jobs`. Each job has `steps`, each a shell
command or a mapping with `run`. Jobs may `need` others, run once per `matrix`
combination, and carry `env`, `timeout`, `if`, `retry`, `allow-failure`,
`artifacts`, `cache`, `secrets`, `on`, `concurrency` and `working-directory`.

Trigger filters (`on`) take one flat shape at the pipeline and at each job::

    on:
      branches: [main, "release/**", "!release/old"]
      tags-ignore: ["*-rc*"]
      paths: ["src/**"]
      events: [push, manual]

Text in `env` values, step `run`, a job's `name`, a `concurrency` group and a
cache `key` may contain `${{ NAME }}`, where NAME is `branch`, `tag`, `ref`,
`event`, `commit`, `job` or `matrix.KEY`. A cache key may also contain
`${{ hashFiles('pattern', ...) }}`, which the engine computes.

`load_pipeline` reads the file and raises PipelineError naming the file, line
and key of the first problem in file order.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lightci.conditions import Condition, ConditionError, parse_condition
from lightci.errors import PipelineError
from lightci.yamlsafe import Path, YamlDocument, YamlError, load_yaml

EVENTS = ("push", "pre-push", "post-commit", "manual", "retry")
Event = Literal["push", "pre-push", "post-commit", "manual", "retry"]

SUBSTITUTION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
SUBSTITUTION_NAMES = frozenset({"branch", "tag", "ref", "event", "commit", "job"})
MATRIX_REFERENCE = re.compile(r"matrix\.([A-Za-z_][A-Za-z0-9_-]*)")
_QUOTED = r"""(?:'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")"""
HASH_FILES = re.compile(rf"hashFiles\(\s*{_QUOTED}(?:\s*,\s*{_QUOTED})*\s*\)")

JOB_NAME = re.compile(r"[A-Za-z0-9_.-]+")
MATRIX_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

MAX_RETRIES = 10
# Limits that keep one pipeline file from occupying the worker for hours:
# every job state change rewrites the run's record, so the cost of a run
# grows with its job count. GitHub Actions caps a matrix at 256 jobs too.
MAX_PIPELINE_BYTES = 1024 * 1024
MAX_JOBS = 256
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])")
DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?\s*[smhdw]\s*)+$|^\s*[0-9]+(\.[0-9]+)?\s*$"


def _invalid(
    message: str, at: Path = (), line_at: Path | None = None
) -> PydanticCustomError:
    """Build a validation error for `message` at the sub-path `at`.

    `line_at` is the sub-path whose line locates the error when it differs
    from `at`, as for an unknown key reported on its mapping.
    """
    return PydanticCustomError(
        "lightci",
        "{message}",
        {"message": message, "at": at, "line_at": at if line_at is None else line_at},
    )


# Value types shared by several models.


def parse_duration(value: Any) -> float:
    """Parse seconds as a number or text such as `90s`, `10m`, `1h30m`, `2d`."""
    if isinstance(value, bool):
        raise _invalid(f"expected a duration such as 90, '10m' or '1h30m', got {value}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise _invalid(
            f"expected a duration such as 90, '10m' or '1h30m', got {_describe(value)}"
        )
    if not seconds > 0 or math.isinf(seconds):
        raise _invalid(f"a duration must be more than zero, got {value!r}")
    return seconds


def _parse_duration_text(text: str) -> float:
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    if not re.fullmatch(rf"(?:{_DURATION_PART.pattern})+\s*", stripped):
        raise _invalid(
            f"invalid duration {text!r}; use seconds or a number with a unit "
            "s, m, h, d or w, such as '90s', '10m' or '1h30m'"
        )
    return sum(
        float(number) * _DURATION_UNITS[unit]
        for number, unit in _DURATION_PART.findall(stripped)
    )


def _parse_expiry(value: Any) -> float | None:
    if isinstance(value, str) and value.strip() == "never":
        return None
    return parse_duration(value)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": DURATION_PATTERN},
    ]
}
Duration = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)
]
Expiry = Annotated[
    float | None,
    BeforeValidator(_parse_expiry),
    WithJsonSchema({"anyOf": [*_DURATION_SCHEMA["anyOf"], {"const": "never"}]}),
]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _check_relative_path(value: str) -> str:
    if not value.strip():
        raise _invalid("a path must not be empty")
    if value.startswith(("/", "\\", "~")) or re.match(r"[A-Za-z]:", value):
        raise _invalid(f"path {value!r} must be relative to the workspace")
    if ".." in re.split(r"[/\\]", value):
        raise _invalid(f"path {value!r} must not leave the workspace with '..'")
    return value


RelativePath = Annotated[str, AfterValidator(_check_relative_path)]


def _check_env(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not ENV_NAME.fullmatch(name):
            raise _invalid(
                f"invalid variable name {name!r}; use letters, digits and '_', "
                "not starting with a digit",
                at=(name,),
            )
    return value


Env = Annotated[
    dict[str, str],
    AfterValidator(_check_env),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": f"^{ENV_NAME.pattern}$"},
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        }
    ),
]


def _check_condition(value: str) -> str:
    try:
        parse_condition(value)
    except ConditionError as error:
        raise _invalid(str(error)) from None
    return value


ConditionText = Annotated[str, AfterValidator(_check_condition)]


# Keys of GitHub Actions and GitLab CI whose lightci name is not close in
# spelling, so that difflib would not suggest it.
_OTHER_TOOLS_KEYS = {
    "continue-on-error": "allow-failure",
    "allow_failure": "allow-failure",
    "timeout-minutes": "timeout",
    "script": "steps",
    "variables": "env",
    "strategy": "matrix",
    "dependencies": "needs",
    "rules": "if",
    "only": "on",
    "workflow": "on",
    "parallel": "matrix",
}


class _Model(BaseModel):
    """Base of every pipeline model: frozen, and strict about keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any, info: ValidationInfo) -> Any:
        # A file must use the keys as written in the docs, so a Python name
        # such as `working_directory` is unknown there.
        if not isinstance(data, dict) or not (info.context or {}).get("file"):
            return data
        allowed = [field.alias or name for name, field in cls.model_fields.items()]
        for key in data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            renamed = _OTHER_TOOLS_KEYS.get(str(key))
            if renamed in allowed:
                close = [renamed]
            hint = f"; did you mean '{close[0]}'?" if close else "."
            message = f"unknown key '{key}'{hint} Allowed keys: {', '.join(allowed)}"
            raise _invalid(message, line_at=(key,))
        return data


# Triggers.


def _check_patterns(value: tuple[str, ...]) -> tuple[str, ...]:
    for index, pattern in enumerate(value):
        if not pattern or pattern == "!":
            raise _invalid("a pattern must not be empty", at=(index,))
    return value


Patterns = Annotated[
    tuple[str, ...],
    BeforeValidator(_one_or_many, json_schema_input_type=str | list[str]),
    AfterValidator(_check_patterns),
]


class Triggers(_Model):
    """Filters that decide whether a pipeline or job runs for a ref and event."""

    branches: Patterns | None = Field(
        default=None,
        description="Branch globs that run it; a leading '!' excludes, and the "
        "last matching pattern decides.",
    )
    branches_ignore: Patterns | None = Field(
        default=None,
        alias="branches-ignore",
        description="Branch globs that never run it.",
    )
    tags: Patterns | None = Field(
        default=None, description="Tag globs that run it; a leading '!' excludes."
    )
    tags_ignore: Patterns | None = Field(
        default=None, alias="tags-ignore", description="Tag globs that never run it."
    )
    paths: Patterns | None = Field(
        default=None,
        description="Path globs: it runs when a changed file matches. '*' stays "
        "within a folder, '**' crosses folders, a leading '!' excludes.",
    )
    paths_ignore: Patterns | None = Field(
        default=None,
        alias="paths-ignore",
        description="Path globs: it does not run when every changed file matches.",
    )
    events: tuple[Event, ...] | None = Field(
        default=None,
        description="Events that run it: push, pre-push, post-commit, manual, retry.",
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_event_level(cls, data: Any) -> Any:
        # GitHub Actions nests filters under each event; lightci does not.
        if isinstance(data, dict):
            for event in ("push", "pull_request", "pre-push", "post-commit"):
                if isinstance(data.get(event), dict):
                    raise _invalid(
                        f"'on' takes its filters directly, with no '{event}:' "
                        "level; write on: {branches: [...], events: [push]}",
                        line_at=(event,),
                    )
        return data

    @field_validator("branches", "tags", "paths")
    @classmethod
    def _need_positive_pattern(
        cls, value: tuple[str, ...] | None
    ) -> tuple[str, ...] | None:
        if value and all(pattern.startswith("!") for pattern in value):
            raise _invalid(
                "a list of only '!' patterns matches nothing; add a pattern "
                "to include first, such as '**'"
            )
        return value

    @field_validator("branches_ignore", "tags_ignore", "paths_ignore")
    @classmethod
    def _reject_negation(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for index, pattern in enumerate(value or ()):
            if pattern.startswith("!"):
                raise _invalid(
                    "'!' patterns are allowed only in branches, tags and paths",
                    at=(index,),
                )
        return value


# Steps.


class Step(_Model):
    """One shell command of a job."""

    run: str = Field(min_length=1, description="The shell command.")
    name: str | None = Field(default=None, description="The name shown for the step.")
    env: Env = Field(default_factory=dict, description="Variables for this step.")
    timeout: Duration | None = Field(
        default=None,
        description="Seconds, or a duration such as '10m', before it is stopped.",
    )
    working_directory: RelativePath | None = Field(
        default=None,
        alias="working-directory",
        description="Folder to run in, relative to the workspace.",
    )
    if_: ConditionText | None = Field(
        default=None, alias="if", description="Condition that decides whether it runs."
    )

    @property
    def condition(self) -> Condition | None:
        """The parsed `if` expression, or None without one."""
        return None if self.if_ is None else parse_condition(self.if_)


def _steps_shorthand(value: Any) -> Any:
    if isinstance(value, list):
        return [{"run": item} if isinstance(item, str) else item for item in value]
    return value


# Job parts.


class Retry(_Model):
    """The retry policy of a job: the number of retries and the failures that
    trigger them."""

    max: StrictInt = Field(
        ge=0,
        le=MAX_RETRIES,
        description=f"Retries after the first attempt, at most {MAX_RETRIES}.",
    )
    when: (
        tuple[
            Annotated[StrictInt, Field(ge=1, le=255)] | Literal["timeout", "failure"],
            ...,
        ]
        | None
    ) = Field(
        default=None,
        description="What to retry after: exit codes, 'timeout', or 'failure' "
        "for any failing exit code. Without it, any failure or timeout.",
    )

    @field_validator("when", mode="before")
    @classmethod
    def _check_when(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return value
        if not value:
            raise _invalid("must list at least one retry condition")
        for index, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                if not 1 <= item <= 255:
                    raise _invalid(
                        f"exit code {item} is out of range; use 1 to 255", at=(index,)
                    )
            elif item not in ("timeout", "failure"):
                raise _invalid(
                    f"invalid retry condition {item!r}; use an exit code, "
                    "'timeout' or 'failure'",
                    at=(index,),
                )
        return value


def _retry_shorthand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"max": value}
    return value


class Artifacts(_Model):
    """Files a job keeps after it ends."""

    paths: tuple[RelativePath, ...] = Field(
        min_length=1, description="Paths or globs, relative to the workspace."
    )
    expire_in: Expiry = Field(
        default=None,
        alias="expire-in",
        description="How long to keep them, such as '7d', or 'never'.",
    )


def _artifacts_shorthand(value: Any) -> Any:
    return {"paths": value} if isinstance(value, list) else value


class Cache(_Model):
    """A folder kept between runs under a key."""

    key: str = Field(
        min_length=1,
        description="The cache key; may contain ${{ hashFiles('pattern', ...) }}.",
    )
    paths: tuple[RelativePath, ...] = Field(
        min_length=1, description="Folders to keep, relative to the workspace."
    )


def _cache_shorthand(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


def _check_secret(value: str) -> str:
    if not SECRET_NAME.fullmatch(value):
        raise _invalid(
            f"invalid secret name {value!r}; use upper-case letters, digits "
            "and '_', not starting with a digit"
        )
    return value


SecretName = Annotated[
    str,
    AfterValidator(_check_secret),
    WithJsonSchema({"type": "string", "pattern": f"^{SECRET_NAME.pattern}$"}),
]


class Concurrency(_Model):
    """A group of runs of which only one runs at a time."""

    group: str = Field(
        min_length=1,
        description="The group key; may contain ${{ branch }}, ${{ ref }}, "
        "${{ tag }}, ${{ event }} or ${{ job }}.",
    )
    cancel_in_progress: StrictBool = Field(
        default=False,
        alias="cancel-in-progress",
        description="Cancel the running one when a newer one starts; by "
        "default the newer one waits.",
    )


def _concurrency_shorthand(value: Any) -> Any:
    return {"group": value} if isinstance(value, str) else value


class Matrix(_Model):
    """A job's matrix: a job runs once for each combination of values."""

    axes: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    include: tuple[dict[str, str], ...] = ()
    exclude: tuple[dict[str, str], ...] = ()

    @model_validator(mode="after")
    def _bounded(self) -> Matrix:
        # Expanding a product of millions of combinations takes minutes, so
        # the size is checked before anything is expanded.
        size = math.prod(len(values) for values in self.axes.values())
        if size + len(self.include) > MAX_JOBS * 16:
            raise _invalid(
                f"the matrix has {size} combinations before exclude; a run may "
                f"have at most {MAX_JOBS} jobs"
            )
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key of the matrix: the axes, then keys only `include` adds."""
        names = list(self.axes)
        for entry in self.include:
            names.extend(key for key in entry if key not in names)
        return tuple(names)

    def label(self, combination: Mapping[str, str]) -> str:
        """Join a combination's values in key order, such as `3.11, linux`."""
        return ", ".join(combination[key] for key in self.keys if key in combination)

    def combinations(self) -> list[dict[str, str]]:
        """Expand the matrix into its combinations, in order.

        The cartesian product of the axes comes first, minus each combination
        that matches all the keys of an `exclude` entry. Then each `include`
        entry extends every such combination whose axis values it matches, or
        becomes a new combination when it matches none.
        """
        product = [
            dict(zip(self.axes, values, strict=True))
            for values in itertools.product(*self.axes.values())
        ]
        if not self.axes:
            product = []
        combinations = [
            combination
            for combination in product
            if not any(_matches(combination, entry) for entry in self.exclude)
        ]
        original_count = len(combinations)

        for entry in self.include:
            axis_values = {k: v for k, v in entry.items() if k in self.axes}
            extended = False
            for combination in combinations[:original_count]:
                if _matches(combination, axis_values):
                    combination.update(entry)
                    extended = True
            if not extended:
                combinations.append(dict(entry))
        return combinations


def _matches(combination: Mapping[str, str], entry: Mapping[str, str]) -> bool:
    return all(combination.get(key) == value for key, value in entry.items())


def _parse_matrix(value: Any) -> Any:
    if not isinstance(value, dict):
        raise _invalid(
            f"expected a mapping of names to lists of values, got {_describe(value)}"
        )
    axes: dict[str, tuple[str, ...]] = {}
    for name, values in value.items():
        if name in ("include", "exclude"):
            continue
        if not MATRIX_KEY.fullmatch(name):
            raise _invalid(
                f"invalid matrix key {name!r}; use letters, digits, '_' and '-'",
                at=(name,),
            )
        if not isinstance(values, list):
            raise _invalid(
                f"expected a list of values, got {_describe(values)}", at=(name,)
            )
        if not values:
            raise _invalid("must list at least one value", at=(name,))
        for index, item in enumerate(values):
            _check_matrix_value(item, (name, index))
            if item in values[:index]:
                raise _invalid(f"duplicate matrix value {item!r}", at=(name, index))
        axes[name] = tuple(values)

    include = _matrix_entries(value.get("include"), "include")
    exclude = _matrix_entries(value.get("exclude"), "exclude")
    for index, entry in enumerate(exclude):
        for key in entry:
            if key not in axes:
                raise _invalid(
                    f"exclude names {key!r}, which is not a matrix key; "
                    f"matrix keys: {', '.join(axes) or 'none'}",
                    at=("exclude", index, key),
                )
    if not axes and not include:
        raise _invalid("a matrix needs at least one list of values or an include")
    return {"axes": axes, "include": include, "exclude": exclude}


def _matrix_entries(value: Any, name: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(
            f"expected a list of mappings, got {_describe(value)}", at=(name,)
        )
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or not entry:
            raise _invalid(
                f"expected a mapping of matrix keys to values, got {_describe(entry)}",
                at=(name, index),
            )
        for key, item in entry.items():
            if not MATRIX_KEY.fullmatch(key):
                raise _invalid(f"invalid matrix key {key!r}", at=(name, index, key))
            _check_matrix_value(item, (name, index, key))
    return value


def _check_matrix_value(value: Any, at: Path) -> None:
    if not isinstance(value, str):
        raise _invalid(
            f"expected a string, number or boolean, got {_describe(value)}", at=at
        )


_MATRIX_VALUE_SCHEMA = {"type": ["string", "number", "boolean"]}
_MATRIX_ENTRIES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": _MATRIX_VALUE_SCHEMA,
    },
}
_MATRIX_SCHEMA = {
    "type": "object",
    "description": "Lists of values; the job runs once for each combination.",
    "properties": {
        "include": {
            **_MATRIX_ENTRIES_SCHEMA,
            "description": "Combinations to extend or add.",
        },
        "exclude": {
            **_MATRIX_ENTRIES_SCHEMA,
            "description": "Combinations to drop; an entry drops every "
            "combination that has all its values.",
        },
    },
    "propertyNames": {"pattern": f"^{MATRIX_KEY.pattern}$"},
    "additionalProperties": {
        "type": "array",
        "minItems": 1,
        "items": _MATRIX_VALUE_SCHEMA,
    },
}


class Job(_Model):
    """One job: its steps and how, when and where they run."""

    name: str | None = Field(default=None, description="The name shown for the job.")
    needs: Annotated[
        tuple[str, ...],
        BeforeValidator(_one_or_many, json_schema_input_type=str | list[str]),
    ] = Field(default=(), description="Jobs that must end before this one starts.")
    steps: Annotated[
        tuple[Step, ...],
        BeforeValidator(_steps_shorthand, json_schema_input_type=list[str | Step]),
    ] = Field(
        min_length=1,
        description="Shell commands, run in order.",
        json_schema_extra={"minItems": 1},
    )
    env: Env = Field(default_factory=dict, description="Variables for every step.")
    timeout: Duration | None = Field(
        default=None,
        description="Seconds, or a duration such as '1h', before it is stopped.",
    )
    if_: ConditionText | None = Field(
        default=None, alias="if", description="Condition that decides whether it runs."
    )
    retry: Annotated[
        Retry | None,
        BeforeValidator(
            _retry_shorthand,
            json_schema_input_type=Annotated[int, Field(ge=0, le=MAX_RETRIES)]
            | Retry
            | None,
        ),
    ] = Field(
        default=None, description="Retries after the first attempt, or a mapping."
    )
    allow_failure: StrictBool = Field(
        default=False,
        alias="allow-failure",
        description="A failure of this job does not fail the run.",
    )
    artifacts: Annotated[
        Artifacts | None,
        BeforeValidator(
            _artifacts_shorthand,
            json_schema_input_type=list[str] | Artifacts | None,
        ),
    ] = Field(default=None, description="Paths or globs to keep, or a mapping.")
    cache: Annotated[
        tuple[Cache, ...],
        BeforeValidator(_cache_shorthand, json_schema_input_type=Cache | list[Cache]),
    ] = Field(default=(), description="Folders kept between runs.")
    secrets: tuple[SecretName, ...] = Field(
        default=(),
        description="Names of server-side secrets this job sees as variables.",
    )
    matrix: (
        Annotated[
            Matrix, BeforeValidator(_parse_matrix), WithJsonSchema(_MATRIX_SCHEMA)
        ]
        | None
    ) = Field(default=None, description="Lists of values to run the job with.")
    on: Triggers | None = Field(
        default=None, description="Filters that decide whether the job runs."
    )
    concurrency: Annotated[
        Concurrency | None,
        BeforeValidator(
            _concurrency_shorthand, json_schema_input_type=str | Concurrency | None
        ),
    ] = Field(default=None, description="A group key, or a mapping.")
    working_directory: RelativePath | None = Field(
        default=None,
        alias="working-directory",
        description="Default folder of the steps, relative to the workspace.",
    )

    @property
    def condition(self) -> Condition | None:
        """The parsed `if` expression, or None without one."""
        return None if self.if_ is None else parse_condition(self.if_)


class Pipeline(_Model):
    """A whole `.lightci.yml`."""

    name: str | None = Field(
        default=None, description="The name shown for the pipeline."
    )
    on: Triggers | None = Field(
        default=None, description="Filters that decide whether the pipeline runs."
    )
    env: Env = Field(default_factory=dict, description="Variables for every job.")
    timeout: Duration | None = Field(
        default=None,
        description="Seconds, or a duration such as '2h', for the whole run.",
    )
    concurrency: Annotated[
        Concurrency | None,
        BeforeValidator(
            _concurrency_shorthand, json_schema_input_type=str | Concurrency | None
        ),
    ] = Field(default=None, description="A group key, or a mapping.")
    jobs: dict[str, Job] = Field(
        min_length=1,
        description="The jobs, by name: letters, digits, '_', '.' and '-'.",
        json_schema_extra={
            "minProperties": 1,
            "propertyNames": {"pattern": f"^{JOB_NAME.pattern}$"},
        },
    )

    @field_validator("jobs", mode="before")
    @classmethod
    def _check_job_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not JOB_NAME.fullmatch(name):
                    raise _invalid(
                        f"invalid job name {name!r}; use letters, digits, "
                        "'_', '.' and '-'",
                        line_at=(name,),
                    )
        return value


# Loading.


class _Problem(Exception):
    """A problem found after validation, at a path of the document."""

    def __init__(self, message: str, path: Path, line_path: Path | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line_path = path if line_path is None else line_path


def load_pipeline(data: bytes, filename: str) -> Pipeline:
    """Parse and check a pipeline file; raise PipelineError on any problem."""
    if len(data) > MAX_PIPELINE_BYTES:
        raise PipelineError(
            f"the file is {len(data)} bytes; a pipeline may be at most "
            f"{MAX_PIPELINE_BYTES} bytes",
            filename=filename,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PipelineError(
            f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x}); "
            "save it as UTF-8",
            filename=filename,
            line=line,
        ) from None

    try:
        document = load_yaml(text)
    except YamlError as error:
        raise PipelineError(
            error.message + _quoting_hint(text, error.line) + _tab_hint(text, error),
            filename=filename,
            line=error.line,
        ) from None

    try:
        pipeline = Pipeline.model_validate(
            _stringify_scalars(document), context={"file": True}
        )
    except ValidationError as error:
        raise _first_error(error, document, filename) from None

    try:
        _check_pipeline(pipeline, document)
    except _Problem as problem:
        raise PipelineError(
            problem.message,
            filename=filename,
            line=document.line_of(problem.line_path),
            key=format_path(problem.path),
        ) from None
    return pipeline


def _tab_hint(text: str, error: YamlError) -> str:
    # pyyaml reports a tab in indentation as a character that "cannot start
    # any token", which does not say what to change.
    if error.line is None or "cannot start any token" not in error.message:
        return ""
    lines = text.splitlines()
    if error.line <= len(lines) and "\t" in lines[error.line - 1]:
        return "; YAML does not allow tabs for indentation, use spaces"
    return ""


def _quoting_hint(text: str, line: int | None) -> str:
    # `{` and `}` end a plain value inside [...] or {...}, so an unquoted
    # `${{ ... }}` there is a YAML syntax error.
    lines = text.splitlines()
    if line is None or not any(
        "${{" in lines[i] for i in range(max(line - 2, 0), min(line, len(lines)))
    ):
        return ""
    return "; put quotes around a value that contains '${{ ... }}'"


def format_path(path: Path) -> str:
    """Format a path as a dotted key, such as `jobs.build.steps[0].run`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _stringify_scalars(document: YamlDocument) -> dict[str, Any]:
    """Replace numbers and booleans in env values and matrix values with their
    text as written, so `3.10` stays "3.10" and `TRUE` stays "TRUE". A boolean
    `if` becomes its text too, so `if: false` is a condition."""
    data = document.data

    def convert(container: Any, path: Path) -> None:
        if isinstance(container, dict):
            keys: Sequence[Any] = list(container)
        elif isinstance(container, list):
            keys = range(len(container))
        else:
            return
        for key in keys:
            value = container[key]
            raw = document.raw_text((*path, key))
            if isinstance(value, bool | int | float) and raw is not None:
                container[key] = raw

    def convert_condition(container: dict[str, Any], path: Path) -> None:
        raw = document.raw_text((*path, "if"))
        if isinstance(container.get("if"), bool) and raw is not None:
            container["if"] = raw

    convert(data.get("env"), ("env",))
    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return data
    for job_name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        base: Path = ("jobs", job_name)
        convert(job.get("env"), (*base, "env"))
        convert_condition(job, base)
        steps = job.get("steps")
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict):
                convert(step.get("env"), (*base, "steps", index, "env"))
                convert_condition(step, (*base, "steps", index))
        matrix = job.get("matrix")
        if not isinstance(matrix, dict):
            continue
        for key, values in matrix.items():
            if key not in ("include", "exclude"):
                convert(values, (*base, "matrix", key))
            elif isinstance(values, list):
                for index, entry in enumerate(values):
                    convert(entry, (*base, "matrix", key, index))
    return data


def _first_error(
    error: ValidationError, document: YamlDocument, filename: str
) -> PipelineError:
    found: list[PipelineError] = []
    for details in error.errors():
        # pydantic counts a list's items after validation, so a list whose only
        # item is invalid is also reported as too short.
        if details["type"] == "too_short" and details["input"]:
            continue
        path: Path = tuple(details["loc"])
        context = details.get("ctx") or {}
        message = _message(details)
        line_path = path
        if details["type"] == "missing":
            message = f"missing required key '{path[-1]}'"
            path = path[:-1]
            line_path = path
        elif details["type"] == "lightci":
            line_path = (*path, *context["line_at"])
            path = (*path, *context["at"])
        found.append(
            PipelineError(
                message,
                filename=filename,
                line=document.line_of(line_path),
                key=format_path(path) or None,
            )
        )
    return min(found, key=lambda problem: (problem.line is None, problem.line or 0))


def _message(details: Any) -> str:
    kind: str = details["type"]
    value = details.get("input")
    context = details.get("ctx") or {}
    got = _describe(value)
    if kind == "lightci":
        return str(context["message"])
    if kind == "string_type":
        return f"expected a string, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind.startswith("int_"):
        return f"expected a whole number, got {got}"
    if kind.startswith("float_"):
        return f"expected a number, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {got}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "literal_error":
        return f"invalid value {value!r}; expected {context['expected']}"
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']}, got {value}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']}, got {value}"
    if kind == "value_error":
        return str(context.get("error", details["msg"]))
    return str(details["msg"])


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the number {value!r}"


# Checks that span several keys, run after the models validate.


def _check_pipeline(pipeline: Pipeline, document: YamlDocument) -> None:
    _check_templates(
        pipeline.env, ("env",), matrix_keys=None, where="the pipeline's env"
    )
    if pipeline.concurrency is not None:
        _check_template(
            pipeline.concurrency.group,
            _concurrency_path(document, ("concurrency",)),
            matrix_keys=None,
            allow_job=False,
        )
    for name, job in pipeline.jobs.items():
        _check_job(name, job, pipeline, document)
    _check_cycles(pipeline)
    total = sum(
        len(job.matrix.combinations()) if job.matrix is not None else 1
        for job in pipeline.jobs.values()
    )
    if total > MAX_JOBS:
        raise _Problem(
            f"the pipeline has {total} jobs once matrices are expanded; a run "
            f"may have at most {MAX_JOBS}, so split it or trim the matrices",
            ("jobs",),
        )


def _check_job(name: str, job: Job, pipeline: Pipeline, document: YamlDocument) -> None:
    base: Path = ("jobs", name)
    for index, needed in enumerate(job.needs):
        if needed not in pipeline.jobs:
            path = (*base, "needs", index)
            if path not in document.value_lines:
                path = (*base, "needs")
            raise _Problem(
                f"needs unknown job '{needed}'; jobs are: {', '.join(pipeline.jobs)}",
                path,
            )

    matrix_keys = frozenset(job.matrix.keys) if job.matrix else frozenset()
    if job.matrix is not None:
        _check_combinations(job.matrix, (*base, "matrix"))

    if job.name is not None:
        _check_template(job.name, (*base, "name"), matrix_keys=matrix_keys)
    _check_templates(job.env, (*base, "env"), matrix_keys=matrix_keys)
    if job.concurrency is not None:
        _check_template(
            job.concurrency.group,
            _concurrency_path(document, (*base, "concurrency")),
            matrix_keys=matrix_keys,
        )
    for index, cache in enumerate(job.cache):
        path = (*base, "cache", index)
        if path not in document.value_lines:
            path = (*base, "cache")
        _check_template(
            cache.key, (*path, "key"), matrix_keys=matrix_keys, allow_hash_files=True
        )
    _check_condition_names(job.condition, (*base, "if"), matrix_keys)

    for index, step in enumerate(job.steps):
        step_path: Path = (*base, "steps", index)
        run_path = (*step_path, "run")
        if run_path not in document.value_lines:
            run_path = step_path
        _check_template(step.run, run_path, matrix_keys=matrix_keys)
        _check_templates(step.env, (*step_path, "env"), matrix_keys=matrix_keys)
        _check_condition_names(step.condition, (*step_path, "if"), matrix_keys)


def _check_combinations(matrix: Matrix, path: Path) -> None:
    labels: set[str] = set()
    combinations = matrix.combinations()
    if not combinations:
        raise _Problem("the matrix has no combinations left after exclude", path)
    for combination in combinations:
        label = matrix.label(combination)
        if label in labels:
            raise _Problem(
                f"two matrix combinations are both ({label}); "
                "remove the repeated include entry",
                path,
            )
        labels.add(label)


def _concurrency_path(document: YamlDocument, path: Path) -> Path:
    group = (*path, "group")
    return group if group in document.value_lines else path


def _check_templates(
    env: Mapping[str, str],
    path: Path,
    matrix_keys: frozenset[str] | None,
    where: str = "",
) -> None:
    for key, value in env.items():
        _check_template(value, (*path, key), matrix_keys=matrix_keys, where=where)


def _check_template(
    text: str,
    path: Path,
    *,
    matrix_keys: frozenset[str] | None,
    allow_job: bool = True,
    allow_hash_files: bool = False,
    where: str = "",
) -> None:
    """Check every `${{ ... }}` in `text`; matrix_keys None means no matrix."""
    for expression in template_expressions(text):
        if expression is None:
            raise _Problem("'${{' is not closed by '}}'", path)
        if expression in SUBSTITUTION_NAMES and (allow_job or expression != "job"):
            continue
        if allow_hash_files and HASH_FILES.fullmatch(expression):
            continue
        matrix_match = MATRIX_REFERENCE.fullmatch(expression)
        if matrix_match and matrix_keys is None:
            raise _Problem(
                f"'${{{{ {expression} }}}}' cannot be used in {where or 'this key'}; "
                "matrix values exist only inside a job",
                path,
            )
        if matrix_match and matrix_keys is not None:
            if matrix_match.group(1) in matrix_keys:
                continue
            raise _Problem(
                f"unknown matrix key '{matrix_match.group(1)}'; the job's "
                f"matrix keys: {', '.join(sorted(matrix_keys)) or 'none'}",
                path,
            )
        names = sorted(
            SUBSTITUTION_NAMES if allow_job else SUBSTITUTION_NAMES - {"job"}
        )
        if matrix_keys is not None:
            names.append("matrix.KEY")
        if expression.startswith("secrets."):
            raise _Problem(
                f"unknown expression '${{{{ {expression} }}}}'; a secret reaches "
                "a job as an environment variable: list its name under the "
                "job's `secrets:` and write $NAME in the step",
                path,
            )
        if allow_hash_files:
            names.append("hashFiles('pattern', ...)")
        raise _Problem(
            f"unknown expression '${{{{ {expression} }}}}'; use one of "
            f"{', '.join(names)}",
            path,
        )


def template_expressions(text: str) -> Iterator[str | None]:
    """Yield the stripped text inside each `${{ ... }}` of `text`, then None if
    a `${{` is left unclosed."""
    end = 0
    for match in SUBSTITUTION.finditer(text):
        yield match.group(1).strip()
        end = match.end()
    if "${{" in text[end:]:
        yield None


def _check_condition_names(
    condition: Condition | None, path: Path, matrix_keys: frozenset[str]
) -> None:
    if condition is None:
        return
    for name in sorted(condition.names):
        prefix, _, key = name.partition(".")
        if prefix == "matrix" and key not in matrix_keys:
            raise _Problem(
                f"unknown matrix key '{key}' in condition; the job's matrix "
                f"keys: {', '.join(sorted(matrix_keys)) or 'none'}",
                path,
            )


def _check_cycles(pipeline: Pipeline) -> None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(name: str) -> None:
        state[name] = "open"
        trail.append(name)
        for needed in pipeline.jobs[name].needs:
            if state.get(needed) == "open":
                cycle = [*trail[trail.index(needed) :], needed]
                raise _Problem(
                    f"needs form a cycle: {' -> '.join(cycle)}; "
                    "remove one of these needs",
                    ("jobs", cycle[0], "needs"),
                )
            if needed not in state:
                visit(needed)
        trail.pop()
        state[name] = "done"

    for name in pipeline.jobs:
        if name not in state:
            visit(name)

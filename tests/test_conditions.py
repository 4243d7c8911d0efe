from __future__ import annotations

import pytest

from lightci.conditions import (
    ConditionContext,
    ConditionError,
    parse_condition,
    upstream_status,
)

MAIN = ConditionContext(
    ref="refs/heads/main",
    branch="main",
    event="push",
    commit="abc123",
    job="build",
    matrix={"python": "3.10", "os": "linux"},
    env={"DEPLOY": "1"},
)


def evaluate(text: str, context: ConditionContext = MAIN) -> bool:
    return parse_condition(text).evaluate(context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("branch == 'main'", True),
        ('branch == "main"', True),
        ("branch != 'main'", False),
        ("${{ branch == 'main' }}", True),
        ("tag == 'v1'", False),
        ("event == 'push' && ref == 'refs/heads/main'", True),
        ("event == 'manual' || job == 'build'", True),
        ("!(event == 'push')", False),
        ("!!true", True),
        ("matrix.python == '3.10'", True),
        ("matrix.python == 3.10", True),
        ("matrix.python == 3.1", True),
        ("matrix.missing == ''", False),
        ("matrix.os == 'linux' && env.DEPLOY == 1", True),
        ("env.MISSING", False),
        ("startsWith(ref, 'refs/heads/')", True),
        ("endsWith(commit, '123')", True),
        ("contains(branch, 'ai')", True),
        ("contains(branch, 'Main')", False),
        ("'it''s' == \"it's\"", True),
        ("false || branch == 'main' && false", False),
        ("true", True),
        ("0", False),
        ("''", False),
    ],
)
def test_evaluate_expressions(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


def test_and_binds_tighter_than_or() -> None:
    assert evaluate("true || false && false") is True


def test_implicit_success_stops_after_failure() -> None:
    failed = ConditionContext(branch="main", succeeded=False, failed=True)
    assert evaluate("branch == 'main'", failed) is False


def test_always_runs_after_failure() -> None:
    failed = ConditionContext(succeeded=False, failed=True)
    assert evaluate("always()", failed) is True


def test_failure_true_after_failure() -> None:
    failed = ConditionContext(succeeded=False, failed=True)
    assert evaluate("failure() && event == ''", failed) is True


def test_failure_false_after_success() -> None:
    assert evaluate("failure()") is False


def test_success_false_when_cancelled() -> None:
    cancelled = ConditionContext(cancelled=True)
    assert evaluate("success()", cancelled) is False
    assert evaluate("cancelled()", cancelled) is True
    assert evaluate("true", cancelled) is False


def test_uses_status_function() -> None:
    assert parse_condition("always() && true").uses_status_function is True
    assert parse_condition("startsWith(branch, 'a')").uses_status_function is False


def test_names_lists_what_is_read() -> None:
    condition = parse_condition("matrix.os == 'linux' || branch == env.X")
    assert condition.names == frozenset({"matrix.os", "branch", "env.X"})


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("branch ==", 10, "the expression ends too early"),
        ("branch = 'main'", 8, "unexpected '='"),
        ("branch == 'main", 11, "unterminated string"),
        ("foo == 'x'", 1, "unknown name 'foo'"),
        ("(branch == 'main'", 18, "expected ')' but found 'end of expression'"),
        ("branch == 'a' 'b'", 15, "unexpected \"'b'\""),
        ("${{ nope() }}", 5, "unknown function 'nope'"),
        ("success(1)", 1, "success() takes 0 arguments, not 1"),
        ("contains(branch)", 1, "contains() takes 2 arguments, not 1"),
        ("matrix == 'x'", 1, "'matrix' needs a name"),
        ("", 1, "the expression is empty"),
        ("${{  }}", 6, "the expression is empty"),
    ],
)
def test_parse_errors_give_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.column == column
    assert caught.value.reason.startswith(reason)


def test_parse_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="at column 1: unknown name 'x'"):
        parse_condition("x")


def test_upstream_status_all_passed() -> None:
    assert upstream_status([("passed", False), ("passed", False)]) == (True, False)


def test_upstream_status_allowed_failure_counts_as_success() -> None:
    assert upstream_status([("passed", False), ("failed", True)]) == (True, False)


def test_upstream_status_failure() -> None:
    assert upstream_status([("timed-out", False)]) == (False, True)


def test_upstream_status_skipped_is_neither() -> None:
    assert upstream_status([("skipped", False)]) == (False, False)

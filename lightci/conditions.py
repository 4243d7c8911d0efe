"""Parse and evaluate the `if` expressions of jobs and steps.

The grammar, loosest binding first::

    expression := or
    or         := and ("||" and)*
    and        := equality ("&&" equality)*
    equality   := unary (("==" | "!=") unary)*
    unary      := "!" unary | primary
    primary    := literal | name | function "(" [expression ("," expression)*] ")"
                | "(" expression ")"

Literals are 'single' or "double" quoted strings, `true`, `false` and numbers.
Names are `branch`, `tag`, `ref`, `event`, `commit`, `job`, `matrix.NAME` and
`env.NAME`. An optional `${{ ... }}` wrapper is stripped.

The semantics follow GitHub Actions with one difference: string comparisons
and the string functions are case-sensitive, as git's ref names are. A
condition that calls none of `success()`, `failure()`, `always()` and
`cancelled()` runs only when the earlier work succeeded, as if it were written
`success() && (condition)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

STATUS_FUNCTIONS = frozenset({"success", "failure", "always", "cancelled"})
STRING_FUNCTIONS = frozenset({"startsWith", "endsWith", "contains"})
NAMES = frozenset({"branch", "tag", "ref", "event", "commit", "job"})
PREFIXED_NAMES = frozenset({"matrix", "env"})

Value = str | float | bool | None


class ConditionError(ValueError):
    """An `if` expression that cannot be parsed, with the 1-based column."""

    def __init__(self, reason: str, text: str, column: int) -> None:
        super().__init__(f"invalid condition {text!r} at column {column}: {reason}")
        self.reason = reason
        self.text = text
        self.column = column


@dataclass(frozen=True)
class ConditionContext:
    """The values an `if` expression reads while a run goes on.

    `succeeded` is true when every needed job (for a job) or every earlier step
    (for a step) passed, counting a failure allowed by `allow-failure` as
    passed. `failed` is true when any of them failed or timed out and that was
    not allowed. Both are false when one was skipped. `upstream_status` turns
    the statuses into these two flags.
    """

    ref: str = ""
    branch: str | None = None
    tag: str | None = None
    event: str = ""
    commit: str = ""
    job: str = ""
    matrix: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    succeeded: bool = True
    failed: bool = False
    cancelled: bool = False


def upstream_status(results: Iterable[tuple[str, bool]]) -> tuple[bool, bool]:
    """Return (succeeded, failed) for `ConditionContext` from (status,
    allow_failure) pairs of the needed jobs or the earlier steps."""
    succeeded = True
    failed = False
    for status, allow_failure in results:
        if status == "passed":
            continue
        if status in ("failed", "timed-out", "error") and allow_failure:
            continue
        succeeded = False
        if status in ("failed", "timed-out", "error"):
            failed = True
    return succeeded, failed


# The syntax tree: each node evaluates itself against a context.


class _Node:
    def evaluate(self, context: ConditionContext) -> Value:
        raise NotImplementedError

    def children(self) -> tuple[_Node, ...]:
        return ()


@dataclass(frozen=True)
class _Literal(_Node):
    value: Value

    def evaluate(self, context: ConditionContext) -> Value:
        return self.value


@dataclass(frozen=True)
class _Name(_Node):
    name: str

    def evaluate(self, context: ConditionContext) -> Value:
        prefix, _, rest = self.name.partition(".")
        if prefix == "matrix":
            return context.matrix.get(rest)
        if prefix == "env":
            return context.env.get(rest)
        value: str | None = getattr(context, self.name)
        return value


@dataclass(frozen=True)
class _Not(_Node):
    operand: _Node

    def evaluate(self, context: ConditionContext) -> Value:
        return not _truthy(self.operand.evaluate(context))

    def children(self) -> tuple[_Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class _Binary(_Node):
    operator: str
    left: _Node
    right: _Node

    def evaluate(self, context: ConditionContext) -> Value:
        if self.operator == "&&":
            return _truthy(self.left.evaluate(context)) and _truthy(
                self.right.evaluate(context)
            )
        if self.operator == "||":
            return _truthy(self.left.evaluate(context)) or _truthy(
                self.right.evaluate(context)
            )
        equal = _equal(self.left.evaluate(context), self.right.evaluate(context))
        return equal if self.operator == "==" else not equal

    def children(self) -> tuple[_Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class _Call(_Node):
    function: str
    arguments: tuple[_Node, ...]

    def evaluate(self, context: ConditionContext) -> Value:
        if self.function == "success":
            return context.succeeded and not context.cancelled
        if self.function == "failure":
            return context.failed and not context.cancelled
        if self.function == "always":
            return True
        if self.function == "cancelled":
            return context.cancelled
        text, part = (_text(a.evaluate(context)) for a in self.arguments)
        return _STRING_TESTS[self.function](text, part)

    def children(self) -> tuple[_Node, ...]:
        return self.arguments


_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": lambda text, part: part in text,
}


def _truthy(value: Value) -> bool:
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    return bool(value)


def _number(value: Value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool | float):
        return float(value)
    if value.strip() == "":
        return 0.0
    try:
        return float(value)
    except ValueError:
        return math.nan


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _equal(left: Value, right: Value) -> bool:
    # Values of different types compare as numbers, so the matrix value "3.10"
    # equals the literal 3.10, and a missing name equals neither 'x' nor 1.
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if left is None or right is None:
        return left is right
    if isinstance(left, bool) and isinstance(right, bool):
        return left == right
    return _number(left) == _number(right)


@dataclass(frozen=True)
class Condition:
    """A parsed `if` expression."""

    text: str
    _root: _Node = field(repr=False, compare=False)

    @property
    def uses_status_function(self) -> bool:
        """Whether it calls success(), failure(), always() or cancelled()."""
        return any(
            isinstance(node, _Call) and node.function in STATUS_FUNCTIONS
            for node in self._nodes()
        )

    @property
    def names(self) -> frozenset[str]:
        """The names it reads, such as `branch` or `matrix.python`."""
        return frozenset(node.name for node in self._nodes() if isinstance(node, _Name))

    def evaluate(self, context: ConditionContext) -> bool:
        """Decide whether the job or step runs in `context`."""
        result = _truthy(self._root.evaluate(context))
        if self.uses_status_function:
            return result
        return result and context.succeeded and not context.cancelled

    def _nodes(self) -> Iterable[_Node]:
        pending = [self._root]
        while pending:
            node = pending.pop()
            yield node
            pending.extend(node.children())


def parse_condition(text: str) -> Condition:
    """Parse an `if` expression; raise ConditionError naming the column."""
    return Condition(text=text, _root=_Parser(text).parse())


_WRAPPER = re.compile(r"^\s*\$\{\{(.*)\}\}\s*$", re.DOTALL)
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)
    | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<operator>==|!=|&&|\|\||!|\(|\)|,)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        match = _WRAPPER.match(text)
        body, offset = (match.group(1), match.start(1)) if match else (text, 0)
        self.tokens = self._tokenize(body, offset)
        self.position = 0

    def parse(self) -> _Node:
        if len(self.tokens) == 1:
            self._fail("the expression is empty", self.tokens[0])
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            self._fail(f"unexpected {token.text!r}", token)
        return node

    def _tokenize(self, body: str, offset: int) -> list[_Token]:
        tokens: list[_Token] = []
        index = 0
        while index < len(body):
            match = _TOKEN.match(body, index)
            if match is None:
                character = body[index]
                column = offset + index + 1
                if character in "'\"":
                    raise ConditionError("unterminated string", self.text, column)
                raise ConditionError(f"unexpected {character!r}", self.text, column)
            kind = match.lastgroup or ""
            if kind != "space":
                tokens.append(_Token(kind, match.group(), offset + index + 1))
            index = match.end()
        tokens.append(_Token("end", "end of expression", offset + len(body) + 1))
        return tokens

    def _peek(self) -> _Token:
        return self.tokens[self.position]

    def _next(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def _accept(self, text: str) -> bool:
        token = self._peek()
        if token.kind == "operator" and token.text == text:
            self.position += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            token = self._peek()
            self._fail(f"expected {text!r} but found {token.text!r}", token)

    def _fail(self, reason: str, token: _Token) -> NoReturn:
        raise ConditionError(reason, self.text, token.column)

    def _or(self) -> _Node:
        node = self._and()
        while self._accept("||"):
            node = _Binary("||", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._equality()
        while self._accept("&&"):
            node = _Binary("&&", node, self._equality())
        return node

    def _equality(self) -> _Node:
        node = self._unary()
        while True:
            if self._accept("=="):
                node = _Binary("==", node, self._unary())
            elif self._accept("!="):
                node = _Binary("!=", node, self._unary())
            else:
                return node

    def _unary(self) -> _Node:
        if self._accept("!"):
            return _Not(self._unary())
        return self._primary()

    def _primary(self) -> _Node:
        token = self._next()
        if token.kind == "operator" and token.text == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "number":
            return _Literal(float(token.text))
        if token.kind == "string":
            return _Literal(_unquote(token.text))
        if token.kind == "name":
            return self._name(token)
        if token.kind == "end":
            self._fail("the expression ends too early", token)
        self._fail(f"unexpected {token.text!r}", token)

    def _name(self, token: _Token) -> _Node:
        if token.text in ("true", "false"):
            return _Literal(token.text == "true")
        if self._accept("("):
            return self._call(token)

        prefix, dot, rest = token.text.partition(".")
        if dot and prefix in PREFIXED_NAMES:
            return _Name(token.text)
        if not dot and token.text in NAMES:
            return _Name(token.text)
        if prefix in PREFIXED_NAMES:
            self._fail(f"{prefix!r} needs a name, as in '{prefix}.NAME'", token)
        allowed = ", ".join([*sorted(NAMES), "matrix.NAME", "env.NAME"])
        self._fail(f"unknown name {token.text!r}; use one of {allowed}", token)

    def _call(self, token: _Token) -> _Node:
        arguments: list[_Node] = []
        if not self._accept(")"):
            arguments.append(self._or())
            while self._accept(","):
                arguments.append(self._or())
            self._expect(")")

        if token.text in STATUS_FUNCTIONS:
            expected = 0
        elif token.text in STRING_FUNCTIONS:
            expected = 2
        else:
            allowed = ", ".join(
                f"{name}()" for name in sorted(STATUS_FUNCTIONS | STRING_FUNCTIONS)
            )
            self._fail(f"unknown function {token.text!r}; use one of {allowed}", token)
        if len(arguments) != expected:
            self._fail(
                f"{token.text}() takes {expected} arguments, not {len(arguments)}",
                token,
            )
        return _Call(token.text, tuple(arguments))


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text.startswith("'"):
        return body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)

"""Load YAML with YAML 1.2 scalars, no duplicate keys, and a line for every value.

Plain pyyaml follows YAML 1.1, where `on`, `off`, `yes` and `no` are booleans,
`010` is octal, `1:30` is the integer 90 and `2024-01-01` is a date. This loader
resolves plain scalars by the YAML 1.2 core schema instead. Only `true` and
`false` (in any case) are booleans. Integers are decimal, `0o` octal or `0x`
hexadecimal. Anything else that is not a number or null is a string.

Mapping keys are always strings, exactly as written, so `on:` is the key "on".
A duplicate key is an error. Merge keys (`<<: *anchor`) work, and a key written
in the mapping overrides a merged one without counting as a duplicate.

The result is plain dicts, lists and scalars, plus side tables indexed by path:
the tuple of keys and list indices from the top, such as
`("jobs", "build", "steps", 0, "run")`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_BaseLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG_PREFIX = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG_PREFIX + "merge"


class Yaml12Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """pyyaml's safe loader with the YAML 1.2 core schema's plain scalars."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


Yaml12Loader.add_implicit_resolver(
    _TAG_PREFIX + "null",
    re.compile(r"^(?:~|null|Null|NULL|)$"),
    ["~", "n", "N", ""],
)
Yaml12Loader.add_implicit_resolver(
    _TAG_PREFIX + "bool",
    re.compile(r"^(?i:true|false)$"),
    list("tTfF"),
)
Yaml12Loader.add_implicit_resolver(
    _TAG_PREFIX + "int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
Yaml12Loader.add_implicit_resolver(
    _TAG_PREFIX + "float",
    re.compile(
        r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)
Yaml12Loader.add_implicit_resolver(_MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])


class YamlError(ValueError):
    """Invalid YAML text, with the 1-based line at fault when one is known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


@dataclass(frozen=True)
class YamlDocument:
    """A loaded document and, for each path inside it, where it was written.

    `key_lines` maps each mapping key to its line and `value_lines` maps each
    value to the line where it starts. `raw` maps each scalar to its text as
    written (after quotes and escapes are processed), so `3.10` can be read
    back as "3.10" although the value is the float 3.1.
    """

    data: dict[str, Any]
    key_lines: Mapping[Path, int] = field(default_factory=dict)
    value_lines: Mapping[Path, int] = field(default_factory=dict)
    raw: Mapping[Path, str] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Return the line of the key at `path`, else of its value, else of the
        closest enclosing path that has one."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.key_lines:
                return self.key_lines[prefix]
            if prefix in self.value_lines:
                return self.value_lines[prefix]
        return None

    def raw_text(self, path: Path) -> str | None:
        """Return the scalar at `path` as written, or None if it is no scalar."""
        return self.raw.get(path)


def load_yaml(text: str) -> YamlDocument:
    """Parse one YAML document whose top level must be a mapping.

    Raises YamlError for invalid YAML, an empty document, several documents,
    a top level that is not a mapping, a duplicate key, a key that is not a
    scalar, an unsupported tag, or an alias that contains itself.
    """
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error) from None
    except yaml.YAMLError as error:
        raise YamlError(f"invalid YAML: {error}") from None
    finally:
        loader.dispose()

    if node is None:
        raise YamlError("the file is empty; it must contain a mapping of keys")

    builder = _Builder()
    data = builder.build(node, ())
    if not isinstance(data, dict):
        raise YamlError(
            f"the top level must be a mapping of keys, not {_kind(node)}",
            _line(node),
        )
    return YamlDocument(
        data=data,
        key_lines=builder.key_lines,
        value_lines=builder.value_lines,
        raw=builder.raw,
    )


def _syntax_error(error: yaml.MarkedYAMLError) -> YamlError:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "invalid syntax"
    if error.context and "expected a single document" in error.context:
        problem = "the file holds more than one YAML document; keep only one"
    elif error.context:
        problem = f"{problem} ({error.context})"
    return YamlError(
        f"invalid YAML: {problem}", None if mark is None else mark.line + 1
    )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a scalar"


class _Builder:
    """Turn a composed node tree into plain values, filling the side tables."""

    def __init__(self) -> None:
        self.key_lines: dict[Path, int] = {}
        self.value_lines: dict[Path, int] = {}
        self.raw: dict[Path, str] = {}
        self._open: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.value_lines[path] = _line(node)
        if isinstance(node, yaml.ScalarNode):
            self.raw[path] = str(node.value)
            return _scalar(node)

        # An alias reuses its anchor's node, so a node met again while it is
        # still being built is an alias that contains itself.
        if id(node) in self._open:
            raise YamlError("an alias refers to a node that contains it", _line(node))
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, "seq")
                return [
                    self.build(item, (*path, i)) for i, item in enumerate(node.value)
                ]
            if isinstance(node, yaml.MappingNode):
                self._check_tag(node, "map")
                return self._mapping(node, path)
        finally:
            self._open.discard(id(node))
        raise YamlError(f"unsupported YAML node {type(node).__name__}", _line(node))

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != _TAG_PREFIX + expected:
            raise YamlError(f"unsupported YAML tag {node.tag}", _line(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        written: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(result, written, value_node, path)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(
                    f"a mapping key must be a plain name, not {_kind(key_node)}",
                    _line(key_node),
                )
            key = str(key_node.value)
            if key in written:
                raise YamlError(
                    f"duplicate key '{key}'; remove or rename one of them",
                    _line(key_node),
                )
            written.add(key)
            self.key_lines[(*path, key)] = _line(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _merge(
        self,
        result: dict[str, Any],
        written: set[str],
        value_node: yaml.Node,
        path: Path,
    ) -> None:
        sources = (
            value_node.value
            if isinstance(value_node, yaml.SequenceNode)
            else [value_node]
        )
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise YamlError(
                    "a merge key '<<' needs a mapping or a list of mappings",
                    _line(source),
                )
            # A separate builder keeps the merged keys' lines from replacing
            # those of keys written in this mapping.
            source_builder = _Builder()
            source_builder._open = self._open
            merged = source_builder.build(source, path)
            for key, value in merged.items():
                # Keys written in this mapping win over merged ones, and an
                # earlier merge source wins over a later one.
                if key in written or key in result:
                    continue
                result[key] = value
                self._copy_lines(source_builder, (*path, key))

    def _copy_lines(self, other: _Builder, prefix: Path) -> None:
        size = len(prefix)
        for source_table, target_table in (
            (other.key_lines, self.key_lines),
            (other.value_lines, self.value_lines),
        ):
            for path, line in source_table.items():
                if path[:size] == prefix:
                    target_table[path] = line
        for path, text in other.raw.items():
            if path[:size] == prefix:
                self.raw[path] = text


def _scalar(node: yaml.ScalarNode) -> Any:
    value = str(node.value)
    tag = node.tag
    if tag == _TAG_PREFIX + "str":
        return value
    if tag == _TAG_PREFIX + "null":
        return None
    if tag == _TAG_PREFIX + "bool":
        return value.lower() == "true"
    if tag == _TAG_PREFIX + "int":
        return _int(value, node)
    if tag == _TAG_PREFIX + "float":
        return _float(value, node)
    raise YamlError(f"unsupported YAML tag {tag}", _line(node))


def _int(value: str, node: yaml.ScalarNode) -> int:
    try:
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value, 10)
    except ValueError:
        raise YamlError(f"invalid integer '{value}'", _line(node)) from None


def _float(value: str, node: yaml.ScalarNode) -> float:
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    try:
        return float(value)
    except ValueError:
        raise YamlError(f"invalid number '{value}'", _line(node)) from None

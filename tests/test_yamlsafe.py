from __future__ import annotations

import math
import textwrap

import pytest
import yaml

from lightci.yamlsafe import Yaml12Loader, YamlError, load_yaml


def load(text: str) -> dict[str, object]:
    return load_yaml(textwrap.dedent(text)).data


def test_loader_builds_on_c_loader_when_available() -> None:
    expected = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert issubclass(Yaml12Loader, expected)


def test_on_is_a_string_key() -> None:
    data = load("""\
        on:
          branches: [main]
        """)
    assert data == {"on": {"branches": ["main"]}}


@pytest.mark.parametrize(
    "written", ["on", "off", "yes", "no", "y", "n", "NO", "Yes", "ON", "Off"]
)
def test_yaml11_booleans_stay_strings(written: str) -> None:
    assert load(f"value: {written}\n") == {"value": written}


@pytest.mark.parametrize(
    ("written", "expected"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False)],
)
def test_yaml12_booleans(written: str, expected: bool) -> None:
    assert load(f"value: {written}\n")["value"] is expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("010", 10),
        ("0o17", 15),
        ("0x1f", 31),
        ("-3", -3),
        ("1:30", "1:30"),
        ("2024-01-01", "2024-01-01"),
        ("1_000", "1_000"),
        ("3.10", 3.1),
        ("1e3", 1000.0),
        ("~", None),
        ("null", None),
    ],
)
def test_yaml12_scalars(written: str, expected: object) -> None:
    assert load(f"value: {written}\n")["value"] == expected


def test_infinity_and_nan() -> None:
    data = load("a: .inf\nb: -.Inf\nc: .nan\n")
    assert data["a"] == math.inf
    assert data["b"] == -math.inf
    assert math.isnan(data["c"])  # type: ignore[arg-type]


def test_raw_text_keeps_scalar_as_written() -> None:
    document = load_yaml("env: {A: 3.10, B: NO, C: '007'}\n")
    assert document.raw_text(("env", "A")) == "3.10"
    assert document.raw_text(("env", "B")) == "NO"
    assert document.raw_text(("env", "C")) == "007"
    assert document.raw_text(("env",)) is None


def test_numeric_keys_stay_as_written() -> None:
    assert load("01: a\ntrue: b\n") == {"01": "a", "true": "b"}


def test_duplicate_key_names_second_line() -> None:
    text = textwrap.dedent("""\
        jobs:
          build:
            steps:
              - make
          test:
            steps: [make test]
          build:
            steps: [make]
        """)
    with pytest.raises(YamlError) as caught:
        load_yaml(text)
    assert caught.value.line == 7
    assert caught.value.message.startswith("duplicate key 'build';")


def test_duplicate_of_quoted_and_plain_key() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml("on: a\n'on': b\n")
    assert caught.value.line == 2


def test_key_and_value_lines() -> None:
    document = load_yaml(
        textwrap.dedent("""\
        name: ci
        jobs:
          build:
            steps:
              - run: make
                name: compile
        """)
    )
    assert document.key_lines[("jobs", "build")] == 3
    assert document.value_lines[("jobs", "build", "steps", 0)] == 5
    assert document.key_lines[("jobs", "build", "steps", 0, "name")] == 6
    assert document.line_of(("jobs", "build", "steps", 0, "run")) == 5


def test_line_of_falls_back_to_parent() -> None:
    document = load_yaml("jobs:\n  build: {}\n")
    assert document.line_of(("jobs", "build", "steps")) == 2


def test_merge_key_merges_and_written_key_wins() -> None:
    document = load_yaml(
        textwrap.dedent("""\
        base: &base
          image: a
          shell: sh
        job:
          image: b
          <<: *base
        """)
    )
    assert document.data["job"] == {"image": "b", "shell": "sh"}
    assert document.key_lines[("job", "image")] == 5
    assert document.key_lines[("job", "shell")] == 3


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(YamlError, match="contains it"):
        load_yaml("a: &x [1, *x]\n")


def test_empty_file_is_rejected() -> None:
    with pytest.raises(YamlError, match="empty"):
        load_yaml("# only a comment\n")


def test_top_level_list_is_rejected() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml("- a\n- b\n")
    assert caught.value.message == "the top level must be a mapping of keys, not a list"


def test_two_documents_are_rejected() -> None:
    with pytest.raises(YamlError, match="more than one YAML document"):
        load_yaml("a: 1\n---\nb: 2\n")


def test_syntax_error_has_line() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert caught.value.line == 3


def test_unknown_tag_is_rejected() -> None:
    with pytest.raises(YamlError, match="unsupported YAML tag"):
        load_yaml("a: !!python/name:os.system x\n")


def test_complex_key_is_rejected() -> None:
    with pytest.raises(YamlError, match="key must be a plain name"):
        load_yaml("? [a, b]\n: c\n")

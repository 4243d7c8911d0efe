"""Limits and hints that keep bad pipeline files from costing time."""

from __future__ import annotations

import pytest

from lightci.engine import unique_slugs
from lightci.errors import PipelineError
from lightci.pipeline import MAX_JOBS, MAX_PIPELINE_BYTES, load_pipeline


def test_too_many_jobs_rejected() -> None:
    jobs = "".join(f"  j{index}:\n    steps: [echo {index}]\n" for index in range(300))
    with pytest.raises(PipelineError) as raised:
        load_pipeline(f"jobs:\n{jobs}".encode(), ".lightci.yml")
    assert raised.value.key == "jobs"
    assert f"at most {MAX_JOBS}" in raised.value.message
    assert "300 jobs" in raised.value.message


def test_matrix_jobs_count_toward_limit() -> None:
    values = ", ".join(str(index) for index in range(20))
    text = f"jobs:\n  t:\n    matrix:\n      a: [{values}]\n      b: [{values}]\n"
    text += "    steps: [echo]\n"
    with pytest.raises(PipelineError) as raised:
        load_pipeline(text.encode(), ".lightci.yml")
    assert "400 jobs" in raised.value.message


def test_huge_matrix_rejected_before_expansion() -> None:
    values = ", ".join(str(index) for index in range(60))
    axes = "".join(f"      {name}: [{values}]\n" for name in "abcdef")
    text = f"jobs:\n  t:\n    matrix:\n{axes}    steps: [echo]\n"
    with pytest.raises(PipelineError) as raised:
        load_pipeline(text.encode(), ".lightci.yml")
    assert raised.value.line == 3
    assert "46656000000 combinations" in raised.value.message


def test_oversized_file_rejected() -> None:
    data = b"# padding\n" * (MAX_PIPELINE_BYTES // 10 + 1)
    with pytest.raises(PipelineError) as raised:
        load_pipeline(data, ".lightci.yml")
    assert f"at most {MAX_PIPELINE_BYTES} bytes" in raised.value.message


def test_limit_itself_accepted() -> None:
    jobs = "".join(f"  j{index}:\n    steps: [echo]\n" for index in range(MAX_JOBS))
    pipeline = load_pipeline(f"jobs:\n{jobs}".encode(), ".lightci.yml")
    assert len(pipeline.jobs) == MAX_JOBS


def test_unique_slugs_for_clashing_names() -> None:
    slugs = unique_slugs(["test (a/b)", "test (a-b)", "test a b", "build"])
    assert slugs == ["test-a-b", "test-a-b-2", "test-a-b-3", "build"]


def test_tab_indentation_gets_hint() -> None:
    with pytest.raises(PipelineError) as raised:
        load_pipeline(b"jobs:\n\tbuild:\n    steps: [make]\n", ".lightci.yml")
    assert raised.value.line == 2
    assert "does not allow tabs for indentation" in raised.value.message


def test_other_tools_key_gets_lightci_name() -> None:
    text = b"jobs:\n  build:\n    continue-on-error: true\n    steps: [make]\n"
    with pytest.raises(PipelineError) as raised:
        load_pipeline(text, ".lightci.yml")
    assert raised.value.line == 3
    assert "did you mean 'allow-failure'?" in raised.value.message


def test_secrets_expression_points_to_key() -> None:
    text = b'jobs:\n  build:\n    steps: ["echo ${{ secrets.TOKEN }}"]\n'
    with pytest.raises(PipelineError) as raised:
        load_pipeline(text, ".lightci.yml")
    assert "list its name under the job's `secrets:`" in raised.value.message

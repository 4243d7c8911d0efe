"""The JSON Schema of the pipeline file, for editors and `lightci schema`."""

from __future__ import annotations

from typing import Any

from lightci.pipeline import Pipeline

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def pipeline_json_schema() -> dict[str, Any]:
    """Build the JSON Schema (draft 2020-12) of `.lightci.yml` from the models.

    It describes the file as written: keys by their hyphenated names and the
    short forms, such as a step as a plain command or `needs` as one name.
    Checks that span keys, such as `needs` naming a job that exists, are left
    to `lightci validate`.
    """
    generated = Pipeline.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": "lightci pipeline",
        "description": "The .lightci.yml file at the root of a repository.",
    }
    schema.update({k: v for k, v in generated.items() if k != "title"})
    return schema

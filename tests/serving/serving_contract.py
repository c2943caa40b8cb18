"""The schemas of docs/openapi.yaml, to check live answers against."""

from __future__ import annotations

import jsonschema

from serving.app import openapi_spec


def contract(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                            "components": openapi_spec()["components"]})

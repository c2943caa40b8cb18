"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and its request examples satisfy its own request schema
(the live server is checked against it in test_fuzz.py)."""

from __future__ import annotations

import jsonschema
import yaml
from openapi_spec_validator import validate

from serving.app import OPENAPI_PATH, openapi_spec


def test_the_spec_is_valid_openapi():
    validate(yaml.safe_load(OPENAPI_PATH.read_text()))


def test_the_served_spec_is_the_file():
    assert openapi_spec() == yaml.safe_load(OPENAPI_PATH.read_text())


def test_request_examples_satisfy_the_request_schema_and_errors_have_one_shape():
    spec = yaml.safe_load(OPENAPI_PATH.read_text())

    def schema(name):
        return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                "components": spec["components"]})

    content = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    for name, example in content["examples"].items():
        assert schema("InvocationRequest").is_valid(example["value"]), name
    response = spec["paths"]["/invocations"]["post"]["responses"]["200"]["content"]["application/json"]
    schema("InvocationResponse").validate(response["example"])
    for status, error in spec["paths"]["/invocations"]["post"]["responses"].items():
        if status != "200":
            assert error == {"$ref": "#/components/responses/Error"}
    assert not schema("Error").is_valid({"error_code": "X", "message": "m", "request_id": "r", "stack_trace": "..."})

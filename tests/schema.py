"""Validation against OpenAI's published API schema (../shared/reference/openai-openapi.json)."""

import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from jsonschema._keywords import enum as _enum
from jsonschema._keywords import type as _type
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "openai-openapi.json"
_URI = "urn:openai-openapi"


@functools.cache
def _registry() -> tuple[Registry, dict]:
    spec = json.loads(SPEC_PATH.read_text())
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Registry().with_resource(_URI, resource), spec


def _nullable(check):
    # The spec marks nullable fields OpenAPI 3.0's way (`nullable: true`) although it says 3.1;
    # OpenAI's API does send null there (e.g. a stream chunk's finish_reason), so honour it.
    def keyword(validator, value, instance, schema):
        if instance is None and schema.get("nullable") is True:
            return
        yield from check(validator, value, instance, schema)

    return keyword


OpenAPIValidator = validators.extend(Draft202012Validator, {"type": _nullable(_type), "enum": _nullable(_enum)})


@functools.cache
def validator(name: str):
    registry, spec = _registry()
    if name not in spec["components"]["schemas"]:
        raise KeyError(f"{name} is not a schema in OpenAI's spec")
    return OpenAPIValidator({"$ref": f"{_URI}#/components/schemas/{name}"}, registry=registry)


def assert_valid(instance, name: str) -> None:
    """Raises with every violation listed, so a failure says what is wrong."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"- {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors[:20]]
        raise AssertionError(f"{len(errors)} violation(s) of OpenAI's {name}:\n" + "\n".join(lines))

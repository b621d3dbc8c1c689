"""A service's own validation of a request, as the service answers it.

Step Functions calls services through an AWS SDK that does not check requests on the client: a request missing a
required field goes to the service, and the task fails with the service's answer. boto3 checks on the client
(``Parameter validation failed: ...``) and local endpoints such as moto check little. So before a call, asl checks
the constraints the service model states, and answers as the service does:

- JSON-protocol services built on AWS's common request validation (DynamoDB, Lambda, EventBridge, ...):
  ``ValidationException`` with ``N validation error(s) detected: Value null at 'item' failed to satisfy
  constraint: Member must not be null; ...``: members named lowerCamelCase, list items as ``name.1.member``.
- SQS: ``MissingParameter``, ``The request must contain the parameter MessageBody.``

Other services keep boto3's check (their own wording is not modelled here).
"""

from __future__ import annotations

import re
from typing import Any

# Constraints the services document that botocore's models leave out (botocore strips patterns). DynamoDB API
# Reference, CreateTable / PutItem "TableName": a table's name matches [a-zA-Z0-9_.-]+ (an ARN is also accepted
# since tables can be named by ARN).
_PATTERNS: dict[tuple[str, str], str] = {("dynamodb", "TableName"): r"[a-zA-Z0-9_.-]+"}


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _quoted(value: Any) -> str:
    return "null" if value is None else f"'{value}'"


def _walk(shape: Any, value: Any, path: str, service: str, member: str, errors: list[str]) -> None:
    """Append the constraint violations of ``value`` (of botocore shape ``shape``) at ``path``."""
    def fail(shown: str, must: str) -> str:
        return f"Value {shown} at '{path}' failed to satisfy constraint: Member must {must}"

    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for name, sub in shape.members.items():
            sub_path = f"{path}.{_lower_camel(name)}" if path else _lower_camel(name)
            if name in value and value[name] is not None:
                _walk(sub, value[name], sub_path, service, name, errors)
            elif name in shape.required_members:
                errors.append(f"Value null at '{sub_path}' failed to satisfy constraint: Member must not be null")
        return
    if kind == "list" and isinstance(value, list):
        for i, item in enumerate(value, start=1):
            if item is not None:
                _walk(shape.member, item, f"{path}.{i}.member", service, member, errors)
        return
    if kind == "string" and isinstance(value, str):
        if "min" in meta and len(value) < meta["min"]:
            errors.append(fail(_quoted(value), f"have length greater than or equal to {meta['min']}"))
        if "max" in meta and len(value) > meta["max"]:
            errors.append(fail(_quoted(value), f"have length less than or equal to {meta['max']}"))
        pattern = _PATTERNS.get((service, member))
        if pattern and not value.startswith("arn:") and not re.fullmatch(pattern, value):
            errors.append(fail(_quoted(value), f"satisfy regular expression pattern: {pattern}"))
        return
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            errors.append(fail(_quoted(value), f"have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            errors.append(fail(_quoted(value), f"have value less than or equal to {meta['max']}"))


def service_validation(service_model: Any, operation_name: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """The (error code, message) the service answers ``params`` of ``operation_name`` with when they break the
    constraints its model states, else None (the request goes to the endpoint)."""
    protocol = service_model.metadata.get("protocol")
    service = service_model.endpoint_prefix
    shape = service_model.operation_model(operation_name).input_shape
    if shape is None:
        return None
    if service == "sqs":
        for name in shape.required_members:
            if params.get(name) is None:
                return "MissingParameter", f"The request must contain the parameter {name}."
        return None
    if protocol != "json":
        return None
    errors: list[str] = []
    _walk(shape, params, "", service, "", errors)
    if not errors:
        return None
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected"
    return "ValidationException", f"{count}: " + "; ".join(errors)

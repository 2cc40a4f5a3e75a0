"""Check requests and responses against Avito's own OpenAPI 3.0 specs (a test helper, not a test module).

>>> contract = load_contract()
>>> contract.validate_request("GET", "/core/v1/items", {"per_page": 50, "status": "active,old"})
>>> contract.validate_response("GET", "/core/v1/items", 200, response.json())

Operations are found by matching the specs' path templates (trailing slashes are significant: getItemInfo
and getMessagesV3 end in ``/``). Schemas have their ``$ref`` resolved inline and are turned from OpenAPI 3.0
into JSON Schema (draft 7) for ``jsonschema``. Every departure from the literal spec is an *allowance*,
listed in ``ALLOWANCES`` below with its reason; anything else that does not match raises ``AssertionError``
with one line per problem.
"""

from __future__ import annotations

import json
import os
import re
import reprlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

__all__ = ["ALLOWANCES", "OpenApiContract", "Operation", "default_spec_dir", "load_contract", "require_contract"]

# Allowances, each the one place where this validator is more lenient than the spec text:
ALLOWANCES = {
    # auth.json declares /token three times, the keys made distinct by invisible U+200E marks (one URL).
    # The marks are stripped; the first declaration (client_credentials, the one avito_kit uses) wins.
    "token-marks": "U+200E marks stripped from path keys; the first /token operation is used",
    # messenger.json postSendMessage lists "url" as required in a body that has no "url" property: a copy
    # error (NOTES.md). Real clients send {"message": {"text"}, "type": "text"}.
    "send-message-url": "postSendMessage request body: 'url' not required",
    # getMessagesV3 documents a bare array; real accounts send {"messages": [...], "meta": {"has_more": bool}}
    # (REAL-WORLD.md). The wrapped forms are accepted, the array validated against the spec's array schema.
    "messages-envelope": "getMessagesV3 200: {'messages': [...]} with or without meta.has_more accepted",
    # getChatsV2 documents no "meta"; real accounts add {"meta": {"has_more": bool}} (checked when present).
    "chats-meta": "getChatsV2 200: meta.has_more must be a boolean when present",
    # An expired token: real accounts get {"result": {"status": false, "message": "access token expired"}}.
    "token-expired-body": "403 with {'result': {'status': false, 'message'}} accepted",
    # int32/int64/float formats are not checked: listing ids exceed int32 although typed int32, booking
    # ids exceed 2^53. Only "date" and "date-time" formats are checked (they catch real client bugs).
    "formats": "only date and date-time formats are checked",
    # getItemsInfo types "status" as one enum string yet documents a comma list ("active,old"): a string
    # parameter with an enum whose example holds a comma is validated part by part.
    "comma-enums": "string enum parameters with a comma example accept comma lists",
    # Messenger, /token and gateway errors (502) are undocumented: an undocumented error status is
    # accepted when its body has one of the error shapes Avito uses (or the OAuth 2 shape for /token).
    "undocumented-errors": "undocumented 4xx/5xx accepted with a known error-body shape",
}

_GENERIC_ERROR = {
    "anyOf": [
        {"type": "object", "required": ["error"],
         "properties": {"error": {"type": "object", "required": ["code", "message"],
                                  "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}}},
        {"type": "object", "required": ["code", "message"],
         "properties": {"code": {"type": ["string", "integer"]}, "message": {"type": "string"}}},
        {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"},
                                                                 "error_description": {"type": "string"}}},
    ]
}
_EXPIRED_TOKEN = {"type": "object", "required": ["result"], "properties": {"result": {
    "type": "object", "required": ["status", "message"],
    "properties": {"status": {"const": False}, "message": {"type": "string"}}}}}
_HAS_MORE = {"type": "object", "required": ["has_more"], "properties": {"has_more": {"type": "boolean"}}}
_DROPPED_KEYS = frozenset({"example", "examples", "xml", "externalDocs", "discriminator", "deprecated",
                           "nullable", "x-example"})
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def default_spec_dir() -> Path:
    """``$AVITO_OPENAPI_DIR``, else ``<repo>/../shared/avito-api/openapi`` (independent of the cwd)."""
    configured = os.environ.get("AVITO_OPENAPI_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "avito-api" / "openapi"


def load_contract(spec_dir: str | os.PathLike[str] | None = None) -> OpenApiContract:
    """Load every ``*.json`` spec of ``spec_dir`` (``default_spec_dir()`` when None)."""
    return OpenApiContract(Path(spec_dir) if spec_dir is not None else default_spec_dir())


def require_contract() -> OpenApiContract:
    """The specs' contract for a test module's fixture: the module skips without the spec directory, except
    under ``CI=true`` where that is a failure."""
    import pytest

    spec_dir = default_spec_dir()
    if not spec_dir.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Avito OpenAPI specs are missing at {spec_dir} (set AVITO_OPENAPI_DIR)")
        pytest.skip(f"no Avito OpenAPI specs at {spec_dir}")
    return load_contract(spec_dir)


@dataclass
class Operation:
    """One operation of a spec, with parameters, body and responses already converted to JSON Schema."""

    spec: str
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: list[dict[str, Any]]  # {"name", "in", "required", "schema", "comma_list"}
    request_bodies: dict[str, dict[str, Any]]  # content type -> schema
    body_required: bool
    responses: dict[str, dict[str, Any] | None]  # status key -> JSON schema, None when no content


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date", raises=ValueError)
    def _is_date(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_RE.match(value):
            raise ValueError("not YYYY-MM-DD")
        date.fromisoformat(value)
        return True

    @checker.checks("date-time", raises=ValueError)
    def _is_datetime(value: object) -> bool:
        if isinstance(value, str):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    return checker


FORMAT_CHECKER = _format_checker()


class OpenApiContract:
    """The operations of a directory of OpenAPI 3.0 JSON specs, ready to validate traffic against."""

    def __init__(self, spec_dir: Path) -> None:
        if not spec_dir.is_dir():
            raise FileNotFoundError(f"no OpenAPI spec directory at {spec_dir}")
        self.spec_dir = spec_dir
        self.operations: list[Operation] = []
        seen: set[tuple[str, str]] = set()
        for spec_path in sorted(spec_dir.glob("*.json")):
            document = json.loads(spec_path.read_text(encoding="utf-8"))
            for raw_template, path_item in document.get("paths", {}).items():
                template = raw_template.replace("\u200e", "")  # allowance "token-marks"
                for method, operation in path_item.items():
                    if method not in ("get", "post", "put", "patch", "delete"):
                        continue
                    key = (method.upper(), template)
                    if key in seen:
                        continue
                    seen.add(key)
                    self.operations.append(_build_operation(spec_path.name, document, method.upper(), template,
                                                            path_item, operation))
        if not self.operations:
            raise FileNotFoundError(f"no OpenAPI operations found in {spec_dir}")

    def find(self, method: str, url_or_path: str) -> tuple[Operation, dict[str, str]]:
        """The operation serving ``method`` on this path, with the path parameters it captured."""
        path = urlsplit(url_or_path).path
        matches = [(op, found.groupdict()) for op in self.operations
                   if op.method == method.upper() and (found := op.pattern.match(path))]
        if not matches:
            raise AssertionError(f"{method.upper()} {path}: no operation in the specs matches this path")
        # a literal segment beats a template parameter (/accounts/self vs /accounts/{user_id}/...)
        return min(matches, key=lambda pair: len(pair[1]))

    def validate_request(self, method: str, url_or_path: str, query: dict[str, Any] | None = None,
                         json_body: Any = None, form: dict[str, Any] | None = None) -> Operation:
        """Check path parameters, query parameters and the body of a request; returns the operation."""
        operation, path_params = self.find(method, url_or_path)
        problems: list[str] = []
        values = _query_values(urlsplit(url_or_path).query, query or {})
        declared = {p["name"] for p in operation.parameters if p["in"] == "query"}
        for name in sorted(set(values) - declared):
            problems.append(f"query parameter {name!r} is not declared by the spec")
        for parameter in operation.parameters:
            where = parameter["in"]
            if where == "path":
                raw = [path_params[parameter["name"]]] if parameter["name"] in path_params else []
            elif where == "query":
                raw = values.get(parameter["name"], [])
            else:
                continue  # headers (Authorization, Content-Type) are the transport's business
            if not raw:
                if parameter["required"]:
                    problems.append(f"{where} parameter {parameter['name']!r} is required")
                continue
            problems.extend(_check_parameter(parameter, raw))
        problems.extend(self._check_body(operation, json_body, form))
        _raise(problems, f"{method.upper()} {urlsplit(url_or_path).path} ({operation.operation_id}) request")
        return operation

    def validate_response(self, method: str, url_or_path: str, status: int, body: Any) -> Operation:
        """Check a response body against the spec's schema for ``status`` (or ``default``)."""
        operation, _ = self.find(method, url_or_path)
        if isinstance(body, bytes | str):
            body = json.loads(body) if body else None
        where = f"{method.upper()} {urlsplit(url_or_path).path} ({operation.operation_id}) -> {status}"
        if status == 403 and isinstance(body, dict) and set(body) == {"result"}:  # allowance "token-expired-body"
            _raise(_schema_problems(_EXPIRED_TOKEN, body), f"{where} response")
            return operation
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in operation.responses), None)
        if key is None:
            if status >= 400:  # allowance "undocumented-errors"
                _raise(_schema_problems(_GENERIC_ERROR, body), f"{where}: undocumented error status, body")
                return operation
            raise AssertionError(f"{where}: the spec documents no such status ({sorted(operation.responses)})")
        schema = operation.responses[key]
        if schema is None:
            return operation  # documented without content: any body will do
        problems = []
        if operation.operation_id in ("getMessagesV3", "getChatsV2") and isinstance(body, dict) and "meta" in body:
            problems += [f"meta {p}" for p in _schema_problems(_HAS_MORE, body["meta"])]  # "chats-meta"
            if operation.operation_id == "getMessagesV3":
                body = {key: value for key, value in body.items() if key != "meta"}
        if (operation.operation_id == "getMessagesV3" and isinstance(body, dict)
                and set(body) == {"messages"}):  # allowance "messages-envelope"
            body = body["messages"]
        _raise(problems + _schema_problems(schema, body), f"{where} response")
        return operation

    @staticmethod
    def _check_body(operation: Operation, json_body: Any, form: dict[str, Any] | None) -> list[str]:
        if json_body is None and form is None:
            return ["a request body is required"] if operation.body_required else []
        content_type = "application/json" if form is None else "application/x-www-form-urlencoded"
        if not operation.request_bodies:
            return ["the operation takes no request body"]
        schema = operation.request_bodies.get(content_type)
        if schema is None:
            return [f"body sent as {content_type}; the spec accepts {sorted(operation.request_bodies)}"]
        body = json_body if form is None else {k: str(v) for k, v in form.items()}
        return [f"body {problem}" for problem in _schema_problems(schema, body)]


def _build_operation(spec: str, document: dict[str, Any], method: str, template: str,
                     path_item: dict[str, Any], operation: dict[str, Any]) -> Operation:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    parameters = []
    for raw in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        parameter = _resolve(document, raw)
        raw_schema = _resolve(document, parameter.get("schema", {}))
        example = str(raw_schema.get("example", ""))
        parameters.append({
            "name": parameter["name"],
            "in": parameter["in"],
            "required": bool(parameter.get("required")) or parameter["in"] == "path",
            "schema": _to_json_schema(document, raw_schema),
            # allowance "comma-enums"
            "comma_list": raw_schema.get("type") == "string" and "enum" in raw_schema and "," in example,
        })
    operation_id = operation.get("operationId", f"{method} {template}")
    request_bodies: dict[str, dict[str, Any]] = {}
    body_required = False
    if "requestBody" in operation:
        request_body = _resolve(document, operation["requestBody"])
        body_required = bool(request_body.get("required"))
        for content_type, content in request_body.get("content", {}).items():
            schema = _to_json_schema(document, content.get("schema", {}))
            if operation_id == "postSendMessage" and "url" in schema.get("required", []):
                # allowance "send-message-url"
                schema["required"] = [name for name in schema["required"] if name != "url"]
            request_bodies[content_type.split(";")[0]] = schema
    responses: dict[str, dict[str, Any] | None] = {}
    for status, raw_response in operation.get("responses", {}).items():
        response = _resolve(document, raw_response)
        content = response.get("content") or {}
        json_content = next((c for t, c in content.items() if "json" in t), None)
        responses[str(status)] = (_to_json_schema(document, json_content.get("schema", {}))
                                  if json_content is not None else None)
    return Operation(spec=spec, operation_id=operation_id, method=method, template=template,
                     pattern=re.compile(regex + r"\Z"), parameters=parameters, request_bodies=request_bodies,
                     body_required=body_required, responses=responses)


def _resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow ``$ref`` chains of a node (not its children)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            raise AssertionError(f"unresolvable $ref {ref!r}")
        seen.add(ref)
        node = document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _to_json_schema(document: dict[str, Any], node: Any, stack: tuple[str, ...] = ()) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema, ``$ref`` inlined (a recursive reference becomes ``{}``)."""
    if isinstance(node, list):
        return [_to_json_schema(document, child, stack) for child in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in stack:
            return {}  # recursion: accept anything below this point rather than loop
        return _to_json_schema(document, _resolve(document, node), (*stack, ref))
    schema: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or key.startswith("x-"):
            continue
        if key == "properties":
            schema[key] = {name: _to_json_schema(document, child, stack) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            schema[key] = _to_json_schema(document, value, stack)
        elif key in ("allOf", "anyOf", "oneOf"):
            schema[key] = _to_json_schema(document, value, stack)
        elif key == "required" and node.get("type") not in (None, "object"):
            continue  # e.g. stats itemIds: "required" on an array means nothing in JSON Schema either
        else:
            schema[key] = value
    if node.get("nullable"):  # OpenAPI 3.0 nullable -> JSON Schema type list
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    # OpenAPI 3.0 boolean exclusive bounds -> draft 7 numeric ones
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if schema.get(exclusive) is True and bound in schema:
            schema[exclusive] = schema.pop(bound)
        elif schema.get(exclusive) is False:
            del schema[exclusive]
    return schema


def _query_values(url_query: str, query: dict[str, Any]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(url_query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    for name, value in query.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            values.setdefault(name, []).append(str(item).lower() if isinstance(item, bool) else str(item))
    return values


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("not true/false")
        return raw == "true"
    return raw


def _check_parameter(parameter: dict[str, Any], raw: list[str]) -> list[str]:
    name, where, schema = parameter["name"], parameter["in"], parameter["schema"]
    label = f"{where} parameter {name!r}"
    try:
        if schema.get("type") == "array":
            # both "a,b" (the specs' examples) and repeated parameters
            value: Any = [_coerce(part, schema.get("items", {})) for item in raw for part in item.split(",")]
        elif parameter["comma_list"]:
            return [f"{label} {problem}" for part in raw[-1].split(",")
                    for problem in _schema_problems(schema, part)]
        else:
            if len(raw) > 1:
                return [f"{label} is given {len(raw)} times"]
            value = _coerce(raw[0], schema)
    except ValueError as error:
        return [f"{label}: {raw!r} is not a valid {schema.get('type')} ({error})"]
    return [f"{label} {problem}" for problem in _schema_problems(schema, value)]


def _schema_problems(schema: dict[str, Any], value: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message
        if len(message) > 300:  # the instance repr is what grows: keep the rule readable instead
            message = f"{reprlib.repr(error.instance)} fails {error.validator}={error.validator_value!r}"
        problems.append(f"at ${location}: {message}")
    return problems


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise AssertionError(f"{what} does not match the spec:\n" + "\n".join(f"  - {p}" for p in problems))

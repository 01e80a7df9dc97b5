"""Our OpenAPI document against AgentOS' (tests/reference/agentos-openapi.json), route by route and field by
field: every difference fails unless tests/reference/openapi-allowlist.toml lists it with its reason, and an
entry that no longer matches a difference fails too, so the list holds only what is true today.

Compared for each reference route (method and path): that we serve it; its parameters (name, where,
required); its request body (content type; fields, required, types); its statuses; and the fields of its
success answers (names, required, types where both sides say), nested objects and list items as
`field.sub` and `field[].sub`, `$ref`s resolved in each document. A field's type differs when ours is not
one agno's allows in an answer, or when ours refuses one agno accepts in a request; `integer` is a
`number`, a field of any type compares with every type, and `null` is not compared (agno makes almost
every field optional). Error answers are compared by status (their bodies are one shape, checked once:
`detail`, the field every AgentOS error carries). The document is built with authentication on, as
AgentOS' declares 401 on each route.

`python -m tests.contracts.test_openapi_contract` prints every difference, allowed or not.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest

from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from tests.fakes.apps import lambda_test_app

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
REFERENCE = cast(dict[str, Any], json.loads((REFERENCE_DIR / "agentos-openapi.json").read_text()))
ALLOWLIST = REFERENCE_DIR / "openapi-allowlist.toml"
METHODS = ("get", "post", "put", "patch", "delete")
_MAX_DEPTH = 4

Schema = dict[str, Any]


@dataclass(frozen=True)
class Allowed:
    route: str
    aspect: str
    reason: str

    def matches(self, route: str, aspect: str) -> bool:
        return fnmatch.fnmatchcase(route, self.route) and fnmatch.fnmatchcase(aspect, self.aspect)


def load_allowlist(path: Path = ALLOWLIST) -> list[Allowed]:
    entries = tomllib.loads(path.read_text())["allow"]
    allowed = [Allowed(e["route"], e["aspect"], e["reason"]) for e in entries]
    for entry in allowed:
        assert len(entry.reason.split()) >= 5, f"{entry.route} / {entry.aspect}: give the reason, not a label"
    return allowed


@cache
def ours() -> Schema:
    """Our document, with authentication on (no request is made, so the key is never checked)."""
    auth = ApiKeyAuth({hash_key("sk-stratus-contract"): "contract"})
    return create_app(lambda_test_app(), auth=auth, docs=False).openapi()


# --- reading a document ----------------------------------------------------------------------------------


def resolve(doc: Schema, schema: Schema) -> Schema:
    seen: set[str] = set()
    while "$ref" in schema and schema["$ref"] not in seen:
        seen.add(schema["$ref"])
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**doc["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _alternatives(doc: Schema, schema: Schema) -> list[Schema]:
    """The schemas a value may match (anyOf/oneOf flattened, refs resolved), `null` left out."""
    schema = resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [a for s in schema[key] for a in _alternatives(doc, s)]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _alternatives(doc, schema["allOf"][0])
    if schema.get("type") == "null":
        return []
    return [schema]


def types(doc: Schema, schema: Schema) -> frozenset[str] | None:
    """The JSON types a value may have (`null` aside); None for any type."""
    found: set[str] = set()
    for alt in _alternatives(doc, schema):
        kind = alt.get("type")
        if kind is None:
            if "enum" in alt or "const" in alt:
                kind = "string"
            elif "properties" in alt:
                kind = "object"
            else:
                return None
        found.update(kind if isinstance(kind, list) else [kind])
    found.discard("null")
    return frozenset(found) if found else None


def _within(narrow: frozenset[str] | None, wide: frozenset[str] | None) -> bool:
    if narrow is None or wide is None:
        return True
    widened = set(wide) | ({"integer"} if "number" in wide else set())
    return narrow <= widened


def fields(doc: Schema, schema: Schema) -> tuple[dict[str, Schema], set[str]] | None:
    """An object schema's fields and the required ones (over a union: every member's fields, required where
    all members require them); None when it has no declared fields."""
    objects = [a for a in _alternatives(doc, schema) if "properties" in a]
    if not objects:
        return None
    props: dict[str, Schema] = {}
    for alt in objects:
        for name, sub in cast(dict[str, Schema], alt["properties"]).items():
            props.setdefault(name, sub)
    required = set.intersection(*(set(cast(list[str], a.get("required", []))) for a in objects))
    return props, required


def _items(doc: Schema, schema: Schema) -> Schema | None:
    arrays = [a for a in _alternatives(doc, schema) if a.get("type") == "array" and "items" in a]
    return cast(Schema, arrays[0]["items"]) if arrays else None


# --- comparing -------------------------------------------------------------------------------------------


Docs = tuple[Schema, Schema]
"""Ours and agno's: where each side's `$ref`s resolve."""


def compare_body(
    docs: Docs, mine: Schema, theirs: Schema, where: str, *, request: bool, depth: int = 0
) -> Iterator[str]:
    """The differences between two body schemas, as `<where> field <path>: ...`."""
    mine_doc, their_doc = docs
    mine_items, their_items = _items(mine_doc, mine), _items(their_doc, theirs)
    if mine_items is not None and their_items is not None:
        yield from compare_body(docs, mine_items, their_items, f"{where}[]", request=request, depth=depth)
        return
    mine_fields, their_fields = fields(mine_doc, mine), fields(their_doc, theirs)
    if mine_fields is None or their_fields is None or depth > _MAX_DEPTH:
        if mine_fields is None and their_fields is not None and depth <= _MAX_DEPTH:
            yield f"{where}: ours declares no fields"  # (where agno's declares none, ours may say more)
        return
    (mine_props, mine_required), (their_props, their_required) = mine_fields, their_fields
    prefix = f"{where}." if depth else f"{where} field "
    for name in sorted(set(mine_props) | set(their_props)):
        path = f"{prefix}{name}"
        if name not in mine_props:
            yield f"{path}: missing"
            continue
        if name not in their_props:
            yield f"{path}: extra"
            continue
        if request and name in mine_required and name not in their_required:
            yield f"{path}: required by us, optional in agno"
        if not request and name in their_required and name not in mine_required:
            yield f"{path}: optional here, required by agno"
        mine_types, their_types = types(mine_doc, mine_props[name]), types(their_doc, their_props[name])
        wider, narrower = (mine_types, their_types) if request else (their_types, mine_types)
        if not _within(narrower, wider):
            yield f"{path}: type {sorted(mine_types or [])} (agno: {sorted(their_types or [])})"
        yield from compare_body(docs, mine_props[name], their_props[name], path, request=request, depth=depth + 1)


def _parameters(operation: Schema) -> dict[str, Schema]:
    return {p["name"]: p for p in cast(list[Schema], operation.get("parameters", []))}


def _json_schema(response: Schema) -> Schema | None:
    content = cast(dict[str, Schema], response.get("content", {}))
    return content["application/json"].get("schema") if "application/json" in content else None


def compare_operation(docs: Docs, mine: Schema, theirs: Schema) -> Iterator[str]:
    """The differences between one operation of ours and AgentOS' same one."""
    mine_params, their_params = _parameters(mine), _parameters(theirs)
    for name in sorted(set(mine_params) | set(their_params)):
        if name not in mine_params:
            yield f"parameter {name}: missing"
        elif name not in their_params:
            yield f"parameter {name}: extra"
        else:
            a, b = mine_params[name], their_params[name]
            if a["in"] != b["in"]:
                yield f"parameter {name}: in {a['in']} (agno: {b['in']})"
            if a.get("required", False) != b.get("required", False):
                yield f"parameter {name}: required {a.get('required', False)} (agno: {b.get('required', False)})"
    mine_body = cast(Schema, mine.get("requestBody", {})).get("content", {})
    their_body = cast(Schema, theirs.get("requestBody", {})).get("content", {})
    if set(mine_body) != set(their_body):
        yield f"request content: {sorted(mine_body)} (agno: {sorted(their_body)})"
    for kind in sorted(set(mine_body) & set(their_body)):
        yield from compare_body(
            docs, mine_body[kind].get("schema", {}), their_body[kind].get("schema", {}), "request", request=True
        )
    mine_responses, their_responses = (
        cast(dict[str, Schema], mine["responses"]),
        cast(dict[str, Schema], theirs["responses"]),
    )
    for status in sorted(set(mine_responses) | set(their_responses)):
        if status not in mine_responses:
            yield f"status {status}: missing"
        elif status not in their_responses:
            yield f"status {status}: extra"
        elif status.startswith("2"):
            a, b = _json_schema(mine_responses[status]), _json_schema(their_responses[status])
            if (a is None) != (b is None):
                yield f"response {status}: {'no JSON body' if a is None else 'a JSON body agno does not send'}"
            elif a is not None and b is not None:
                yield from compare_body(docs, a, b, f"response {status}", request=False)


def reference_routes() -> list[str]:
    return [f"{m.upper()} {p}" for p, ops in REFERENCE["paths"].items() for m in METHODS if m in ops]


def differences(route: str) -> list[str]:
    method, path = route.split(" ", 1)
    theirs = REFERENCE["paths"][path][method.lower()]
    mine = ours()["paths"].get(path, {}).get(method.lower())
    if mine is None:
        return ["route: missing"]
    return list(compare_operation((ours(), REFERENCE), mine, theirs))


def unexplained(route: str, allowed: list[Allowed]) -> list[str]:
    return [d for d in differences(route) if not any(a.matches(route, d.split(":", 1)[0]) for a in allowed)]


# --- the tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", reference_routes())
def test_the_route_matches_agentos_or_the_allowlist_says_why(route: str) -> None:
    unexplained_here = unexplained(route, load_allowlist())

    assert not unexplained_here, f"{route} differs from AgentOS:\n  " + "\n  ".join(unexplained_here)


def test_every_allowlist_entry_explains_a_difference_there_is() -> None:
    allowed = load_allowlist()
    found = [(route, d.split(":", 1)[0]) for route in reference_routes() for d in differences(route)]

    stale = [a for a in allowed if not any(a.matches(route, aspect) for route, aspect in found)]

    assert not stale, "entries that match no difference (remove them): " + ", ".join(
        f"{a.route} / {a.aspect}" for a in stale
    )


def test_every_error_body_carries_agentos_detail() -> None:
    document = ours()
    for path, operations in cast(dict[str, Schema], document["paths"]).items():
        for method, operation in operations.items():
            for status, response in cast(dict[str, Schema], operation["responses"]).items():
                schema = _json_schema(response)
                if status.startswith("2") or schema is None:
                    continue
                for alt in _alternatives(document, schema):
                    assert "detail" in alt.get("required", []), f"{method.upper()} {path} {status}"


def test_every_route_we_serve_declares_its_answer() -> None:
    untyped = []
    for path, operations in cast(dict[str, Schema], ours()["paths"]).items():
        for method, operation in operations.items():
            for status, response in cast(dict[str, Schema], operation["responses"]).items():
                content = cast(dict[str, Schema], response.get("content", {}))
                binary = any(c.get("schema", {}).get("format") == "binary" for c in content.values())  # bytes served
                declared = _json_schema(response) not in (None, {}) or "text/event-stream" in content or binary
                if status.startswith("2") and status != "204" and not declared:
                    untyped.append(f"{method.upper()} {path} {status}")

    assert not untyped, "answers without a schema: " + ", ".join(untyped)


def test_the_answers_validate_against_the_schemas_our_document_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The typed document is what the routes answer: real answers, each validated against the schema its
    operation declares."""
    from fastapi.testclient import TestClient
    from jsonschema import Draft202012Validator

    monkeypatch.setenv("STRATUS_DB", str(tmp_path / "stratus.db"))
    with TestClient(create_app(lambda_test_app(), auth=None, docs=False)) as client:
        document = client.get("/openapi.json").json()
        run = client.post("/agents/assistant/runs", json={"message": "hi", "stream": False, "session_id": "s1"})
        client.post("/workflows/pipeline/runs", json={"message": "go", "stream": False, "session_id": "w1"})
        memory = client.post("/memories", json={"memory": "likes tea", "user_id": "ann", "topics": ["food"]})
        learning = client.post("/learnings", json={"learning_type": "note", "content": {"text": "x"}})
        content = client.post("/knowledge/content", data={"text_content": "Stratus serves agents."})
        calls = [
            ("post", "/sessions", 201, client.post("/sessions", json={"session_id": "s2"})),
            ("get", "/sessions", 200, client.get("/sessions")),
            ("get", "/sessions/{session_id}", 200, client.get("/sessions/s1")),
            ("get", "/sessions/{session_id}", 200, client.get("/sessions/w1")),
            (
                "post",
                "/sessions/{session_id}/rename",
                200,
                client.post("/sessions/s1/rename", json={"session_name": "n"}),
            ),
            ("get", "/sessions/{session_id}/runs", 200, client.get("/sessions/s1/runs")),
            ("get", "/sessions/{session_id}/runs", 200, client.get("/sessions/w1/runs")),
            ("get", "/sessions/{session_id}/run-previews", 200, client.get("/sessions/s1/run-previews")),
            (
                "get",
                "/sessions/{session_id}/runs/{run_id}",
                200,
                client.get(f"/sessions/s1/runs/{run.json()['run_id']}"),
            ),
            ("post", "/memories", 200, memory),
            ("get", "/memories", 200, client.get("/memories")),
            ("get", "/user_memory_stats", 200, client.get("/user_memory_stats")),
            ("post", "/learnings", 201, learning),
            ("get", "/learnings", 200, client.get("/learnings")),
            ("get", "/learnings/users", 200, client.get("/learnings/users")),
            ("post", "/knowledge/content", 202, content),
            ("get", "/knowledge/content", 200, client.get("/knowledge/content")),
            (
                "get",
                "/knowledge/content/{content_id}/status",
                200,
                client.get(f"/knowledge/content/{content.json()['id']}/status"),
            ),
            ("get", "/knowledge/config", 200, client.get("/knowledge/config")),
            ("post", "/knowledge/search", 200, client.post("/knowledge/search", json={"query": "agents"})),
            ("get", "/config", 200, client.get("/config")),
        ]
        for method, path, status, answer in calls:
            assert answer.status_code == status, (method, path, answer.text)
            schema = _json_schema(document["paths"][path][method]["responses"][str(status)])
            assert schema, (method, path)
            Draft202012Validator({**schema, "components": document["components"]}).validate(answer.json())


def test_the_comparison_finds_a_difference_where_there_is_one() -> None:
    theirs = REFERENCE["paths"]["/memories/{memory_id}"]["get"]
    changed = json.loads(json.dumps(theirs))
    changed["parameters"] = [p for p in changed["parameters"] if p["name"] != "user_id"]
    changed["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "properties": {"memory_id": {"type": "integer"}, "memory": {"type": "string"}},
        "required": ["memory_id"],
    }

    found = set(compare_operation((REFERENCE, REFERENCE), theirs, changed))

    assert "parameter user_id: extra" in found
    assert "response 200 field memory_id: type ['string'] (agno: ['integer'])" in found
    assert "response 200 field topics: extra" in found
    assert "response 200 field memory: optional here, required by agno" not in found


if __name__ == "__main__":
    allowlist = load_allowlist() if ALLOWLIST.exists() else []
    for r in reference_routes():
        for d in differences(r):
            mark = " " if any(a.matches(r, d.split(":", 1)[0]) for a in allowlist) else "!"
            print(f"{mark} {r} | {d}")

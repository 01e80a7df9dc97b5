"""DynamoDB's attribute-value form, update expressions and batch requests' retries, for `DynamoStore` and its
query helpers. boto3 is imported here, lazily, and nowhere else in the storage package."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from stratus.exceptions import ConfigError, StoreError
from stratus.storage import keys

__all__ = [
    "Item",
    "Update",
    "attr_value",
    "boto3_client",
    "from_item",
    "from_value",
    "item_key",
    "owner_condition",
    "send_batch",
    "to_item",
]

Item = dict[str, Any]  # an item in DynamoDB's attribute-value form


def boto3_client(service: str, region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError("DynamoStore needs boto3: install the `aws` extra (pip install 'stratus[aws]')") from exc
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    sdk: Any = boto3  # one function serves both services; the callers cast to their client's type
    return sdk.client(service, region_name=region, config=config)


def attr_value(value: Any) -> dict[str, Any]:
    """A Python value in attribute-value form; a set of strings is a string set (SS)."""
    if isinstance(value, set | frozenset):
        return {"SS": sorted(cast(set[str], value))}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def to_item(data: Mapping[str, Any]) -> Item:
    """The item of these attributes; None and empty sets are left out (DynamoDB stores no empty set)."""
    return {name: attr_value(value) for name, value in data.items() if value is not None and value != set()}


def from_value(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        text = cast(str, value["N"])
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "B" in value:
        return bytes(value["B"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "SS" in value:
        return set(cast(list[str], value["SS"]))
    return None


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: from_value(cast(Mapping[str, Any], value)) for name, value in item.items()}


def item_key(pk: str, sk: str) -> Item:
    return {keys.PK: {"S": pk}, keys.SK: {"S": sk}}


def owner_condition(update: Update, user_id: str | None) -> str:
    update.names["#pk"] = keys.PK
    update.names["#user"] = "user_id"
    if user_id is None:
        return "(attribute_not_exists(#pk) OR attribute_not_exists(#user))"
    update.values[":owner"] = {"S": user_id}
    return "(attribute_not_exists(#pk) OR #user = :owner)"


def send_batch(
    send: Callable[[dict[str, Any]], Mapping[str, Any]], request: dict[str, Any], *, left: str, what: str
) -> list[Mapping[str, Any]]:
    """Send a batch request (its `RequestItems`), then again what DynamoDB left unprocessed of it (the
    response's `left`), pausing longer each time; returns the responses. `StoreError` if some of it is still
    left after eight attempts (`what`: which requests, for the message)."""
    responses: list[Mapping[str, Any]] = []
    for attempt in range(8):
        response = send(request)
        responses.append(response)
        request = cast(dict[str, Any], response.get(left) or {})
        if not request:
            return responses
        time.sleep(0.05 * 2**attempt)
    raise StoreError(f"{what} still unprocessed after retries")


class Update:
    """Builds an UpdateItem expression: SET, SET-if-missing, REMOVE (for None) and ADD clauses."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._condition: str | None = None

    def _name(self, attribute: str) -> str:
        alias = f"#a{len(self.names)}"
        self.names[alias] = attribute
        return alias

    def set(self, attribute: str, value: Any) -> None:
        name = self._name(attribute)
        if value is None:
            self._remove.append(name)
            return
        alias = f":v{len(self.values)}"
        self.values[alias] = attr_value(value)
        self._set.append(f"{name} = {alias}")

    def set_if_missing(self, attribute: str, value: Any) -> None:
        if value is None:
            return
        name = self._name(attribute)
        alias = f":v{len(self.values)}"
        self.values[alias] = attr_value(value)
        self._set.append(f"{name} = if_not_exists({name}, {alias})")

    def add(self, attribute: str, amount: int) -> None:
        name = self._name(attribute)
        alias = f":v{len(self.values)}"
        self.values[alias] = attr_value(amount)
        self._add.append(f"{name} {alias}")

    def condition(self, expression: str) -> None:
        self._condition = expression

    def arguments(self) -> dict[str, Any]:
        parts: list[str] = []
        if self._set:
            parts.append("SET " + ", ".join(self._set))
        if self._remove:
            parts.append("REMOVE " + ", ".join(self._remove))
        if self._add:
            parts.append("ADD " + ", ".join(self._add))
        out: dict[str, Any] = {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": self.names}
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        if self._condition:
            out["ConditionExpression"] = self._condition
        return out

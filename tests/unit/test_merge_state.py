"""The rules `merge_state` applies when a run's state changes meet a concurrent writer's."""

from __future__ import annotations

from typing import Any

import pytest

from stratus.storage.base import merge_state

Case = tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]

CASES: dict[str, Case] = {
    # name: (current: stored meanwhile, base: what the writer read, final: what it wants, expected)
    "untouched keys keep the other writer's value": (
        {"a": 2, "b": 1},
        {"a": 1, "b": 1},
        {"a": 1, "b": 5},
        {"a": 2, "b": 5},
    ),
    "a key the writer removed goes": ({"a": 2, "b": 1}, {"a": 1, "b": 1}, {"a": 1}, {"a": 2}),
    "a key the writer added is added": ({"a": 2}, {"a": 1}, {"a": 1, "c": 3}, {"a": 2, "c": 3}),
    "appends to one list are all kept": ({"n": [1, 2]}, {"n": [1]}, {"n": [1, 3]}, {"n": [1, 2, 3]}),
    "a list both created is the union of appends": ({"n": ["x"]}, {}, {"n": ["y"]}, {"n": ["x", "y"]}),
    "an append survives the other writer's cut": ({"n": []}, {"n": [1]}, {"n": [1, 2]}, {"n": [2]}),
    "a reordered list is the writer's": ({"n": [1, 2, 3]}, {"n": [1, 2]}, {"n": [2, 1]}, {"n": [2, 1]}),
    "dicts merge key by key": (
        {"d": {"x": 1, "y": 9}},
        {"d": {"x": 1}},
        {"d": {"x": 1, "z": 3}},
        {"d": {"x": 1, "y": 9, "z": 3}},
    ),
    "nested lists in dicts append too": (
        {"d": {"n": [1, 2]}},
        {"d": {"n": [1]}},
        {"d": {"n": [1, 3]}},
        {"d": {"n": [1, 2, 3]}},
    ),
    "a scalar both set is the last writer's": ({"s": "theirs"}, {"s": "old"}, {"s": "mine"}, {"s": "mine"}),
    "a value of another type is the writer's": ({"v": [1]}, {"v": [1]}, {"v": {"k": 1}}, {"v": {"k": 1}}),
    "a list over another writer's scalar is the writer's": ({"n": 5}, {}, {"n": [1]}, {"n": [1]}),
}


@pytest.mark.parametrize(("current", "base", "final", "expected"), CASES.values(), ids=list(CASES))
def test_merge_state(current: dict[str, Any], base: dict[str, Any], final: dict[str, Any], expected: Any) -> None:
    assert merge_state(current, base, final) == expected


def test_merge_changes_none_of_its_inputs() -> None:
    current, base, final = {"n": [1, 2]}, {"n": [1]}, {"n": [1, 3]}

    merge_state(current, base, final)

    assert (current, base, final) == ({"n": [1, 2]}, {"n": [1]}, {"n": [1, 3]})

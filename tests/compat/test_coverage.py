"""The suite drives every method of agno's `AgentOSClient` but `migrate_database` (stratus has no database
migrations): each method the client has is called by some scenario of driver.py."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.compat.conftest import DRIVER, run_driver


def called_on_the_client() -> set[str]:
    """The `client.<method>` names driver.py's scenarios call."""
    tree = ast.parse(DRIVER.read_text())
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "client"
    }


def test_every_client_method_but_migrate_database_is_exercised(compat_python: Path) -> None:
    methods = set(run_driver(compat_python, "methods"))
    assert len(methods) > 60  # the introspection found the client's methods
    assert "migrate_database" not in methods
    assert methods - called_on_the_client() == set()
    assert called_on_the_client() - methods == set()  # no call to a method the client does not have

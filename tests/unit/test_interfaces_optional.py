"""An interface whose protocol SDK is not installed fails at start-up, naming the extra that installs it."""

from __future__ import annotations

import sys
from importlib import import_module

import pytest

from stratus import Agent, App
from stratus.api import create_app
from stratus.exceptions import ConfigError
from stratus.models.testing import FunctionModel

SDKS = {"mcp": "mcp", "a2a": "a2a", "agui": "ag_ui"}


@pytest.mark.parametrize("interface", sorted(SDKS))
def test_an_interface_without_its_sdk_names_its_extra(interface: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the protocol's SDK missing: a None entry makes an import fail, for the package and every module of
    # it an earlier test loaded (those would be found in sys.modules first); and stratus' interfaces unloaded
    import_module(f"stratus.interfaces.{interface}")  # as after other tests: the worst case for the check
    sdk = SDKS[interface]
    for name in [n for n in sys.modules if n == sdk or n.startswith(f"{sdk}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in [n for n in sys.modules if n.startswith("stratus.interfaces.")]:
        monkeypatch.delitem(sys.modules, name)
    agent = Agent(name="a", model=FunctionModel(lambda messages, params: "ok"))
    app = App(agents=[agent], mcp=interface == "mcp", a2a=interface == "a2a", agui=interface == "agui")
    # when the server is built, then the error says which extra to install
    with pytest.raises(ConfigError, match=rf"App\({interface}=True\) needs .*pip install 'stratus\[{interface}\]'"):
        create_app(app, auth=None)

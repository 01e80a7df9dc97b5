"""The suite's own safety net: a connection to anything but this machine fails the test."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import NetworkAccessError


def test_a_connection_to_a_remote_host_is_refused() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(NetworkAccessError):
        sock.connect(("93.184.216.34", 443))
    sock.close()


def test_resolving_a_remote_name_is_refused() -> None:
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("api.openai.com", 443)


def test_loopback_stays_allowed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect(server.getsockname())
    client.close()
    server.close()

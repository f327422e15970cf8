"""A guard for tests that must not reach the network: connections to any address but loopback fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@contextmanager
def loopback_only() -> Iterator[list[Any]]:
    """Refuse every socket connection outside 127.0.0.1 / ::1; yields the list of refused addresses."""
    refused: list[Any] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            refused.append(address)
            raise OSError(f"test network guard: connection to {address!r} refused (only loopback is allowed)")
        return original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    try:
        yield refused
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]

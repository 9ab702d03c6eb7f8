"""Free loopback ports for the processes a test or a benchmark starts."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now.

    The kernel picks it (bind to port 0), so parallel test processes do not collide the way
    a fixed or random range would. Another process could take it before ours binds it; the
    servers started here bind within milliseconds, and a clash fails loudly at start-up.
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

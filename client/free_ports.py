"""Free TCP ports on 127.0.0.1 for networks laid out on one machine (tests, benches).

The kernel may hand the same ephemeral port to two successive `bind(0)` calls once the
first socket is closed, so a network laid out port by port can collide with itself. Every
port this module returns is remembered for the life of the process and never returned
again, and a batch holds its sockets open until all of it is chosen.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["free_port", "free_ports"]

_given: set[int] = set()
_lock = threading.Lock()


def free_ports(n: int) -> list[int]:
    """`n` distinct ports, free now, none returned before by this process."""
    held: list[socket.socket] = []
    chosen: list[int] = []
    try:
        with _lock:
            while len(chosen) < n:
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", 0))
                port: int = s.getsockname()[1]
                if port not in _given:
                    _given.add(port)
                    chosen.append(port)
        return chosen
    finally:
        for s in held:
            s.close()


def free_port() -> int:
    """One port, as `free_ports(1)`."""
    return free_ports(1)[0]

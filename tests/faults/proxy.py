"""A fault-injecting TCP proxy in front of each orderer's cluster port.

The genesis block names each consenter's cluster address; the fault suite writes it
as a proxy port it owns (`ClusterProxy.listen(public, real)`), and the orderer itself
listens on `real`. Every Raft message, heartbeat and forwarded envelope between
orderers then crosses this proxy, so `cut(port, pid)` can isolate one orderer:

* connections accepted on the isolated orderer's own proxy port (inbound to it) are
  closed, and new ones are closed at once;
* connections on the other proxy ports whose client socket belongs to the isolated
  orderer's process (its outbound streams) are closed too. All nodes run on this
  machine, so the owner of a client socket is found through `/proc`: the socket's
  inode in `/proc/net/tcp*`, then the process whose `/proc/<pid>/fd` holds it.

`heal()` lets connections through again; the orderers' cluster transports reconnect
by themselves. The proxy copies bytes both ways and never looks inside them (the
TLS handshake is end to end between the orderers).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ClusterProxy", "socket_owner_is"]


def _inodes_for(local_port: int, remote_port: int) -> set[str]:
    """Inodes of the TCP sockets on this machine with that local and remote port."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and (
                int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                found.add(inode)
    return found


def socket_owner_is(pid: int, client_port: int, server_port: int) -> bool:
    """Does process `pid` own the client end (`client_port` → `server_port`) of a
    TCP connection on this machine?"""
    inodes = _inodes_for(client_port, server_port)
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
    return False


@dataclass
class _Link:
    listen_port: int
    client_port: int
    client: socket.socket
    upstream: socket.socket
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@dataclass
class _Cut:
    port: int
    pid: int


@dataclass
class ClusterProxy:
    """Proxies `public port → real port` on `host`; see the module docstring."""

    host: str = "127.0.0.1"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listeners: list[socket.socket] = field(default_factory=list)
    _links: list[_Link] = field(default_factory=list)
    _cut: _Cut | None = None
    _closed: bool = False
    refused: int = 0

    def listen(self, public_port: int, real_port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, public_port))
        sock.listen(64)
        self._listeners.append(sock)
        threading.Thread(
            target=self._accept_loop,
            args=(sock, public_port, real_port),
            name=f"proxy-{public_port}",
            daemon=True,
        ).start()

    def cut(self, port: int, pid: int) -> int:
        """Isolate the orderer behind proxy `port` whose process is `pid`; returns
        the number of live connections closed."""
        with self._lock:
            self._cut = _Cut(port, pid)
            links = list(self._links)
        closed = 0
        for link in links:
            if self._blocked(link.listen_port, link.client_port):
                link.close()
                closed += 1
        return closed

    @property
    def link_count(self) -> int:
        with self._lock:
            return len(self._links)

    def heal(self) -> None:
        with self._lock:
            self._cut = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            links, self._links = list(self._links), []
        for sock in self._listeners:
            with contextlib.suppress(OSError):
                sock.close()
        for link in links:
            link.close()

    # ------------------------------------------------------------------ internals

    def _blocked(self, listen_port: int, client_port: int) -> bool:
        cut = self._cut
        if cut is None:
            return False
        if listen_port == cut.port:
            return True
        return socket_owner_is(cut.pid, client_port, listen_port)

    def _accept_loop(self, sock: socket.socket, public_port: int, real_port: int) -> None:
        while not self._closed:
            try:
                client, (_, client_port) = sock.accept()
            except OSError:
                return
            if self._blocked(public_port, client_port):
                self.refused += 1
                with contextlib.suppress(OSError):
                    client.close()
                continue
            try:
                upstream = socket.create_connection((self.host, real_port), timeout=2.0)
                upstream.settimeout(None)
            except OSError:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(public_port, client_port, client, upstream)
            with self._lock:
                if self._closed:
                    link.close()
                    return
                self._links.append(link)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(link, src, dst), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            link.close()
            with self._lock, contextlib.suppress(ValueError):
                self._links.remove(link)

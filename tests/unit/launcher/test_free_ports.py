"""Ports laid out one by one never collide: the kernel may reuse a just-closed
ephemeral port, so `free_port` remembers what it gave (a CI run once saw a peer's
operations port equal an orderer's cluster port)."""

from __future__ import annotations

import socket

from client.free_ports import free_port, free_ports


def test_successive_single_ports_are_distinct() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)


def test_batches_never_repeat_earlier_ports() -> None:
    first = free_ports(50)
    second = free_ports(50)
    assert len(set(first)) == 50
    assert not set(first) & set(second)


def test_ports_are_bindable() -> None:
    for port in free_ports(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))

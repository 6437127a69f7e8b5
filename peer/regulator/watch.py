"""The live feed behind `Regulator.Watch`: listeners publish each block (after
its indicator batch is durable) with the alerts it raised; each Watch stream
holds a bounded queue.

Ordering: per channel, items arrive in commit order (block notice, then its
alerts). A subscriber that falls `max_queue` items behind is cut off (its next
`get` raises `Lagged`) rather than slowing the committer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import ScfError


class Lagged(ScfError):
    code = "RESOURCE_EXHAUSTED"


@dataclass(frozen=True)
class WatchItem:
    """`kind` is "block" (notice fields) or "alert" (an alert row)."""

    channel: str
    kind: str
    payload: Mapping[str, Any]


class Subscription:
    def __init__(self, hub: WatchHub, channels: frozenset[str] | None, max_queue: int) -> None:
        self._hub = hub
        self.channels = channels
        self._queue: queue.Queue[WatchItem] = queue.Queue(max_queue)
        self._lagged = False

    def offer(self, item: WatchItem) -> None:
        if self.channels is not None and item.channel not in self.channels:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._lagged = True

    def get(self, timeout: float) -> WatchItem | None:
        """The next item, or None after `timeout` seconds; `Lagged` once items were dropped."""
        if self._lagged and self._queue.empty():
            raise Lagged("the watch stream fell behind; reconnect")
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WatchHub:
    """Fan-out of committed blocks and alerts to Watch streams. Thread-safe."""

    def __init__(self, max_queue: int = 4096) -> None:
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []

    def subscribe(self, channels: Iterable[str] | None = None) -> Subscription:
        subscription = Subscription(
            self, frozenset(channels) if channels is not None else None, self._max_queue
        )
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def publish(
        self, channel: str, notice: Mapping[str, Any], alerts: list[dict[str, Any]]
    ) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        items = [WatchItem(channel, "block", notice)]
        items.extend(WatchItem(channel, "alert", alert) for alert in alerts)
        for subscription in subscribers:
            for item in items:
                subscription.offer(item)

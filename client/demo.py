"""`scf demo` as a library call: start a network, run the Figure 1 story
(`client.demo_story`), stop the network — always, also when a step fails or the
user presses Ctrl-C.

```python
from client.demo import run_demo
run = run_demo(Path("/tmp/scf-demo"), on_step=print)
assert run.story.lineage["leaves_total"] == run.story.lineage["root"]["face_total"]
```

Contract: when `run_demo` returns or raises, every node it found or started in the
folder has been asked to stop (`network_down`, SIGTERM then SIGKILL). A failed
step raises `DemoError` (its `step` and `code` say which and why); a network that
would not start raises the launcher's `LauncherError`. The folder itself is the
caller's (the CLI removes a temporary one).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.demo_plan import CHANNEL, DemoError, OnStep, Plan, StoryResult, fen
from client.demo_story import Story
from client.launcher import NetworkLayout, NodeRole, NodeSpec, node_specs
from client.launcher_ops import network_down, network_up
from client.launcher_probe import probe_all
from common.errors import ScfError

__all__ = ["DemoError", "DemoRun", "fen", "run_demo"]

Progress = Callable[[str], None]

PEER_SYNC_TIMEOUT_S = 30.0


def _peer_sync(layout: NetworkLayout, nodes: Sequence[NodeSpec]) -> Callable[[int], None]:
    """`wait(block)`: return once every peer of the channel has committed `block`
    (ledger height > block, read from the peers' operations endpoints), the way
    an application would wait for block events from each endorser; raises
    `DemoError` (PEERS_BEHIND) after `PEER_SYNC_TIMEOUT_S`."""
    peers = [n for n in nodes if n.role is NodeRole.PEER and CHANNEL in n.channels]

    def wait(block: int) -> None:
        deadline = time.monotonic() + PEER_SYNC_TIMEOUT_S
        while True:
            behind = [
                s.node.id for s in probe_all(layout, peers) if s.heights.get(CHANNEL, 0) <= block
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"waiting for block {block}",
                    f"{', '.join(behind)} did not commit block {block} within "
                    f"{PEER_SYNC_TIMEOUT_S:.0f} s (see the logs)",
                    code="PEERS_BEHIND",
                )
            time.sleep(0.05)

    return wait


@dataclass(frozen=True)
class DemoRun:
    """What one demo did, with the wall time of each phase in seconds."""

    root: Path
    story: StoryResult
    nodes: int
    up_seconds: float
    story_seconds: float
    down_seconds: float

    @property
    def seconds(self) -> float:
        return self.up_seconds + self.story_seconds + self.down_seconds

    def to_json(self) -> dict[str, Any]:
        story = self.story
        return {
            "ok": True,
            "dir": str(self.root),
            "nodes": self.nodes,
            "tag": story.plan.tag,
            "today": story.plan.today.isoformat(),
            "steps": [s.to_json() for s in story.steps],
            "lineage": story.lineage,
            "exposure": story.exposure,
            "seconds": {
                "network_up": round(self.up_seconds, 2),
                "story": round(self.story_seconds, 2),
                "network_down": round(self.down_seconds, 2),
                "total": round(self.seconds, 2),
            },
        }


def run_demo(
    root: Path,
    *,
    config_path: Path | None = None,
    on_step: OnStep | None = None,
    progress: Progress | None = None,
    plan: Plan | None = None,
    on_retry: Callable[[str, ScfError, int], None] | None = None,
) -> DemoRun:
    """Start the network in `root` (the default consortium unless `config_path`
    or the folder says otherwise), run the story, stop the network.

    `on_step` sees each step as it completes; `progress` gets short status text
    ("starting peer0.core…", "stopping…"); `on_retry` sees each retried call
    (`Story`). Raises `DemoError` or `LauncherError`.
    """
    say = progress or (lambda _msg: None)
    layout = NetworkLayout(root)
    began = time.monotonic()
    up = network_up(layout, config_path, progress=say)
    up_seconds = time.monotonic() - began
    story_began = time.monotonic()
    story: StoryResult | None = None
    try:
        story = Story(
            layout.profile,
            plan or Plan.new(),
            on_step or (lambda _s: None),
            after_commit=_peer_sync(layout, node_specs(up.config)),
            on_retry=on_retry or (lambda _l, _e, _n: None),
        ).run()
    finally:
        story_seconds = time.monotonic() - story_began
        down_began = time.monotonic()
        say("stopping the network")
        if story is not None:
            network_down(layout)
        else:  # an error is on its way out: stopping must not replace it
            with contextlib.suppress(ScfError, OSError):
                network_down(layout)
        down_seconds = time.monotonic() - down_began
    return DemoRun(root, story, len(up.statuses), up_seconds, story_seconds, down_seconds)

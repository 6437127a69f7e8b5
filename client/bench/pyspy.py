"""Where a node's CPU goes: a summary of `py-spy record --format raw` output.

    py-spy record --pid PID --duration 20 --rate 50 --nonblocking --format raw -o F.txt
    python -m client.bench.pyspy F.txt [--top 15] [--json]

The raw format is one collapsed stack per line, `frame;frame;...;frame COUNT`, outer
frame first, each frame `function (file:line)` (a thread's name may lead). Without
`--idle`, py-spy records only threads that were running, so the counts are on-CPU
samples. Pure parsing below; the command at the end reads the files.

`self` is the share of samples whose innermost frame is the function; `inclusive`
is the share of samples with the function anywhere on the stack (once per stack).
`Phases` group the inclusive time of a node into call types by marker functions
(`PHASES`), so a peer's CPU splits into Endorse / Submit / CommitStatus / validation /
commit, and an orderer's into Broadcast / Raft / Deliver.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PHASES", "Profile", "parse_collapsed", "phase_of", "summarize_profile"]

_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")

PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (phase, substrings of a short frame "function (dir/file.py)"): a stack belongs to
    # the first phase any of its frames matches, phases tried in this order.
    ("gateway Endorse (incl. local endorsement)", ("Endorse (gateway/service.py)",)),
    ("gateway Submit", ("Submit (gateway/service.py)",)),
    ("gateway CommitStatus", ("CommitStatus (gateway/service.py)",)),
    ("gateway Evaluate", ("Evaluate (gateway/service.py)",)),
    ("endorser (remote ProcessProposal)", ("(endorser/",)),
    ("validation", ("(validator/",)),
    ("commit: ledger, statedb", ("(peer/committer.py)", "(ledger/", "(blockstore/")),
    ("block delivery / events", ("deliver", "events.py")),
    ("broadcast", ("broadcast.py",)),
    ("raft / cluster", ("(raft/", "driver.py", "wal.py", "cluster", "raft_codec")),
    ("grpc runtime (threads, queues)", ("(grpc/",)),
)


@dataclass(frozen=True)
class Profile:
    """Collapsed stacks (outer frame first) with their sample counts."""

    stacks: tuple[tuple[tuple[str, ...], int], ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.stacks)


def parse_collapsed(lines: Iterable[str]) -> Profile:
    """Parse `py-spy --format raw` lines; malformed lines are skipped."""
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            continue
        stacks.append((tuple(head.split(";")), int(count)))
    return Profile(tuple(stacks))


def short(frame: str) -> str:
    """`function (file)` with the file reduced to its last two path parts, no line."""
    m = _FRAME.match(frame)
    if m is None:
        return frame
    parts = Path(m["file"]).parts
    return f"{m['fn']} ({'/'.join(parts[-2:])})"


WAITS = ("Condition.wait", "_PollLikeSelector.select", "Event.wait", "Lock.acquire", "_worker")
"""Innermost frames of a thread that is blocked, not computing: without `--gil`,
py-spy sometimes records such threads as active."""


def phase_of(stack: Sequence[str]) -> str:
    """The call type a stack belongs to: "waiting" when its innermost frame is a wait
    (`WAITS`), else the first of `PHASES` any frame matches, else "other"."""
    names = [short(f) for f in reversed(stack)]
    if names and names[0].split(" (")[0] in WAITS:
        return "waiting"
    for phase, markers in PHASES:
        for name in names:
            if any(marker in name for marker in markers):
                return phase
    return "other"


def summarize_profile(profile: Profile, top: int = 15) -> dict[str, Any]:
    """`{"samples", "self": [[function, %], ...], "inclusive": [...], "phases": {...}}`,
    the `top` functions by self and by inclusive share, phases summing to 100 %."""
    total = profile.total or 1
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    for stack, n in profile.stacks:
        frames = [short(f) for f in stack]
        if frames:
            own[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
        phases[phase_of(stack)] += n

    def pct(c: Counter[str], k: int) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in c.most_common(k)]

    return {
        "samples": profile.total,
        "self": pct(own, top),
        "inclusive": pct(incl, top),
        "phases": {k: round(100 * v / total, 1) for k, v in phases.most_common()},
    }


def main(argv: Sequence[str]) -> int:
    top = 15
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i : i + 2]
    out = {}
    for name in args:
        with open(name, encoding="utf-8") as f:
            out[name] = summarize_profile(parse_collapsed(f), top)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    for name, summary in out.items():
        print(f"== {name}: {summary['samples']} samples")
        print("   phases   " + ", ".join(f"{k} {v}%" for k, v in summary["phases"].items()))
        print("   self")
        for fn, p in summary["self"]:
            print(f"     {p:5.1f}%  {fn}")
        print("   inclusive")
        for fn, p in summary["inclusive"]:
            print(f"     {p:5.1f}%  {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

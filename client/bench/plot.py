"""`scf bench --plot`: throughput and latency over time as a PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_timeline"]


def plot_timeline(result: dict[str, Any], out: Path) -> None:
    """Draw `result["timeline"]` (per-second buckets, `client.bench.report.timeline`):
    committed tx/s above, p50/p99 latency below; the measured window is shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["timeline"]
    t = [r["t"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.plot(t, [r["tx_s"] for r in rows], label="succeeded/s")
    top.plot(t, [r["failed"] for r in rows], label="failed/s", color="tab:red")
    top.set_ylabel("tx/s")
    top.legend(loc="upper right")
    for q in ("p50", "p99"):
        bottom.plot(t, [r[f"{q}_ms"] for r in rows], label=q)
    bottom.set_ylabel("latency, ms (submit → commit)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper right")
    config = result["config"]
    warmup = config.get("warmup_s") or 0
    if config.get("duration_s"):
        for ax in (top, bottom):
            ax.axvspan(warmup, warmup + config["duration_s"], alpha=0.08, color="green")
    fig.suptitle(
        f"{config['workload']} ({config['client']} client, {config['clients']} clients): "
        f"{result['throughput_tx_s']} tx/s"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)

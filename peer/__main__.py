"""`python -m peer --config FILE`: run one peer until SIGTERM/SIGINT.

Prints one line `READY port=<grpc> operations_port=<http>` on stdout once every
service is up (launchers and tests wait for it; the config may say port 0).
Exit status: 0 after a clean shutdown, 1 if the peer could not start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from common.errors import ScfError
from peer.config import PeerConfig
from peer.node import PeerNode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peer", description=__doc__)
    parser.add_argument("--config", required=True, help="the peer's YAML config file")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("peer")
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        node = PeerNode(PeerConfig.load(args.config))
    except (ScfError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    try:
        node.start()
    except (ScfError, OSError) as exc:
        log.error("cannot start: %s", exc)
        node.stop()
        return 1
    print(f"READY port={node.port} operations_port={node.operations_port}", flush=True)
    done.wait()
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

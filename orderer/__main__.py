"""`python -m orderer --config FILE`: run one orderer until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from common.errors import ScfError
from orderer.config import OrdererConfig
from orderer.node import OrdererNode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderer", description=__doc__)
    parser.add_argument("--config", required=True, help="the orderer's YAML config file")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        node = OrdererNode(OrdererConfig.load(args.config))
        node.start()
    except (ScfError, OSError) as exc:
        logging.getLogger("orderer").error("cannot start: %s", exc)
        return 1
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("orderer").info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # READY line for launchers: the ports actually bound (config may say port 0)
    print(
        f"READY port={node.port} cluster_port={node.cluster_port} "
        f"operations_port={node.operations_port}",
        flush=True,
    )
    done.wait()
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the Kapso simulator standalone: ``python -m kapso_provider.testing --port 8765``.

Handy for trying a DAG against a local Kapso: point a ``kapso`` connection's host at the printed base URL
and its password at the printed API key.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING

from kapso_provider.testing._loopback import is_loopback
from kapso_provider.testing._simulator import KapsoSimulator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kapso_provider.testing",
        description="Serve a local simulator of Kapso's WhatsApp API v1 until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    parser.add_argument("--api-key", default="test-key", help="API key clients must send (default: test-key)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before every answer")
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per minute per API key (default: unlimited)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for probabilistic faults")
    parser.add_argument(
        "--delivery-delay",
        type=float,
        default=None,
        help="seconds after a send at which outbound messages turn 'delivered' (default: they stay 'sent')",
    )
    parser.add_argument(
        "--read-delay", type=float, default=None, help="seconds after delivery at which they turn 'read'"
    )
    parser.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        help="seconds Kapso's clock is ahead of this machine's (negative: behind), for timestamps and Date",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="answer with the fields Kapso's OpenAPI files document only (see docs/testing.md)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, serve until interrupted, return the exit status.

    :param argv: command-line arguments without the program name (``sys.argv[1:]`` when ``None``).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        # The simulator accepts any request with a well-known key: never expose it on a network.
        parser.error(f"refusing to bind {args.host!r}: only loopback addresses (127.0.0.1, ::1, localhost)")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    try:
        simulator = KapsoSimulator(
            api_key=args.api_key,
            host=args.host,
            port=args.port,
            latency=args.latency,
            rate_limit=args.rate_limit,
            seed=args.seed,
            delivery_delay=args.delivery_delay,
            read_delay=args.read_delay,
            clock_offset=args.clock_offset,
            strict=args.strict,
        )
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        simulator.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Kapso simulator serving {simulator.base_url}", flush=True)
        print(f"API key: {simulator.api_key}", flush=True)
        print(f"Control endpoints: {simulator.control_url}/", flush=True)
        print(
            f"Answer the next question sent to a number: POST {simulator.control_url}/replies "
            '{"phone_number": "+1...", "choose": "Approve"}',
            flush=True,
        )
        print("Press Ctrl-C to stop.", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Logging to stdout with Asterisk-like verbosity levels."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbose: int, *, sip_trace: bool = False) -> None:
    """0: warnings and notices; -v: info; -vv/-vvv: debug. --sip-trace adds messages."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s",
                                           "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Start-up and shutdown notices are always shown, like Asterisk's console.
    logging.getLogger("pbx.server").setLevel(min(level, logging.INFO))
    logging.getLogger("pbx.sip.trace").setLevel(logging.DEBUG if sip_trace else logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)

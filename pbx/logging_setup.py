"""Logging to stdout (and optionally a file) with Asterisk-like verbosity levels."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

_FORMAT = logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s",
                            "%Y-%m-%d %H:%M:%S")


def setup_logging(verbose: int, *, sip_trace: bool = False) -> None:
    """0: warnings and notices; -v: info; -vv: debug; -vvv adds the dialplan's
    `Executing [exten@context:prio] App(...)` lines. --sip-trace adds messages."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_FORMAT)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Start-up and shutdown notices are always shown, like Asterisk's console.
    logging.getLogger("pbx.server").setLevel(min(level, logging.INFO))
    logging.getLogger("pbx.sip.trace").setLevel(logging.DEBUG if sip_trace else logging.WARNING)
    # Asterisk prints "Executing [...]" from verbosity 3.
    logging.getLogger("dialplan.exec").setLevel(logging.INFO if verbose >= 3 else logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def add_log_file(path: Path) -> None:
    """Also write the log to `path` (pbx.yaml log.file), creating its folder.

    A WatchedFileHandler reopens the file when logrotate moves it away."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(_FORMAT)
    logging.getLogger().addHandler(handler)

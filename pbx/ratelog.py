"""Log lines for repeated events, rate-limited and summarised.

An attacker (or a broken phone) can make the same event happen thousands of
times a second: a connection reset, a malformed message, a slowloris timeout.
One line each would flood the log (16,000 resets once made 18 MB). Each kind
logs its first ``burst`` lines per ``interval``; the rest are counted and
summarised in one line ("... 297 more like this in the last 60 s") when the
interval is over: at the next event of that kind, or at :meth:`flush`, which
the owner calls from a periodic timer. The clock is injected (``now``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

__all__ = ["RateLimitedLog"]


@dataclass(slots=True)
class _Kind:
    start: float
    logged: int = 0
    suppressed: int = 0
    example: str = ""


class RateLimitedLog:
    """``log(kind, now, msg, *args)`` logs at most ``burst`` lines of a kind per interval."""

    def __init__(self, logger: logging.Logger, *, level: int = logging.INFO, burst: int = 5,
                 interval: float = 60.0) -> None:
        self.logger = logger
        self.level = level
        self.burst = burst
        self.interval = interval
        self._kinds: dict[str, _Kind] = {}

    def log(self, kind: str, now: float, msg: str, *args: object) -> None:
        state = self._kinds.get(kind)
        if state is None:
            state = self._kinds[kind] = _Kind(now)
        elif now - state.start >= self.interval:
            self._summarise(kind, state)
            state.start, state.logged = now, 0
        if state.logged < self.burst:
            state.logged += 1
            if self.logger.isEnabledFor(self.level):
                self.logger.log(self.level, msg, *args)
                if state.logged == self.burst:
                    self.logger.log(self.level, "(%s: further messages of this kind are counted "
                                    "and summarised every %.0f s)", kind, self.interval)
        else:
            state.suppressed += 1
            if not state.example and self.logger.isEnabledFor(self.level):
                state.example = msg % args if args else msg

    def flush(self, now: float) -> None:
        """Summarise every kind whose interval is over (call it periodically)."""
        for kind, state in list(self._kinds.items()):
            if now - state.start >= self.interval:
                self._summarise(kind, state)
                del self._kinds[kind]

    def _summarise(self, kind: str, state: _Kind) -> None:
        if state.suppressed and self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s: %d more like this in the last %.0f s (e.g. %s)",
                            kind, state.suppressed, self.interval, state.example)
        state.suppressed = 0
        state.example = ""

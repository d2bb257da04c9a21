"""The parsed dialplan: contexts, extensions, priorities, with source positions.

The parser builds it; the checker, `dialplan show`, the interpreter and the
tracer read it. A Dialplan is immutable once built: a reload builds a new one
and swaps it in whole, and calls keep the snapshot they started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dialplan.timespec import TimeSpec


@dataclass(frozen=True, slots=True)
class Pos:
    """Where something was written: file path, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(slots=True)
class Step:
    """One priority of one extension: `exten => 123,2(label),App(args)`."""

    priority: int  # resolved number (n -> previous + 1); hint steps use -1
    app: str  # application name as written (lookup is case-insensitive)
    args: str  # raw argument text between the parentheses, unsubstituted
    label: str | None
    pos: Pos  # position of the `exten`/`same` line
    app_pos: Pos  # position of the application name
    cid_match: str | None = None  # `exten => 123/100,...`: caller-ID pattern


@dataclass(slots=True)
class Extension:
    """All priorities of one extension name (+ optional caller-ID match) in a context."""

    name: str  # as written: "123", "_6XXX", "s", "h", ...
    cid_match: str | None
    steps: dict[int, Step] = field(default_factory=dict)  # priority -> step
    labels: dict[str, int] = field(default_factory=dict)  # label -> priority
    hint: str | None = None
    pos: Pos | None = None  # first line that defined it

    @property
    def is_pattern(self) -> bool:
        return self.name.startswith("_")


@dataclass(slots=True)
class Include:
    """`include => ctx[,times,weekdays,mdays,months[,tz]]`: searched after the
    context's own extensions; with a time spec, only while the time matches."""

    context: str
    pos: Pos
    timing: TimeSpec | None = None

    def active(self, now: float | None) -> bool:
        """Whether the include is searched at `now` (None: at any time, for checks)."""
        return self.timing is None or now is None or self.timing.matches(now)


@dataclass(slots=True)
class Context:
    name: str
    pos: Pos
    extensions: dict[tuple[str, str | None], Extension] = field(default_factory=dict)
    includes: list[Include] = field(default_factory=list)
    ignorepats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Dialplan:
    """A whole extensions.conf (with its #includes)."""

    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)
    general: dict[str, str] = field(default_factory=dict)  # autofallthrough, static, ...
    files: list[str] = field(default_factory=list)  # every file read, for reload
    # context name -> patterns.ContextIndex, built on first use (derived data:
    # kept here so that each dialplan snapshot owns its indexes, no global cache)
    indexes: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def autofallthrough(self) -> bool:
        return self.general.get("autofallthrough", "yes").lower() in ("yes", "true", "1", "on")

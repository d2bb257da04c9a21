"""res_parking.conf as Asterisk reads it, and the extensions a parking lot creates.

Every section but ``[general]`` is a parking lot; ``[default]`` always exists
(Asterisk creates it even when the file does not name it). A lot with a
``parkext`` gets extensions in its ``context`` (``parkedcalls``), as
res_parking registers them: ``parkext => Park(lot)``, each space of ``parkpos``
``=> ParkedCall(lot,space)`` and, with ``parkinghints=yes``, a hint
``park:SPACE@CONTEXT`` per space. So ``include => parkedcalls`` in
extensions.conf reaches the lot, and a blind transfer to 700 parks the call.
Options are checked with ``file:line:col``; unknown ones are warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbx.conffile import Entry, read_conf
from pbx.diagnostics import Diagnostic

__all__ = ["ParkingConfig", "ParkingLotConfig", "add_parking_extensions",
           "load_res_parking_conf"]

_BOOL = {"yes": True, "true": True, "on": True, "1": True, "y": True,
         "no": False, "false": False, "off": False, "0": False, "n": False}
# Accepted and not acted on (no warning: Asterisk's sample has them).
_IGNORED = {"parkedcalltransfers", "parkedcallreparking", "parkedcallhangup",
            "parkedcallrecording", "parkext_exclusive"}


@dataclass(slots=True)
class ParkingLotConfig:
    """One lot, with res_parking's defaults."""

    name: str
    parkext: str = ""  # no extensions unless set (res_parking's default)
    parkpos: tuple[int, int] = (701, 750)
    context: str = "parkedcalls"
    parkingtime: float = 45.0
    comebacktoorigin: bool = True
    comebackdialtime: float = 30.0
    comebackcontext: str = "parkedcallstimeout"
    parkinghints: bool = False
    parkedmusicclass: str = ""
    findslot: str = "first"  # or "next"
    courtesytone: str = ""
    parkedplay: str = "caller"  # caller, parked, both
    file: str = ""
    line: int = 1
    col: int = 1
    ext_line: int = 1  # where parkext was written (the synthesized steps point there)

    @property
    def spaces(self) -> range:
        lo, hi = self.parkpos
        return range(lo, hi + 1)


@dataclass(slots=True)
class ParkingConfig:
    lots: dict[str, ParkingLotConfig] = field(
        default_factory=lambda: {"default": ParkingLotConfig("default")})

    def lot_for_exten(self, context: str, exten: str) -> ParkingLotConfig | None:
        """The lot whose parkext is ``exten`` in ``context``."""
        for lot in self.lots.values():
            if lot.parkext and lot.parkext == exten and lot.context == context:
                return lot
        return None


def load_res_parking_conf(path: Path, diagnostics: list[Diagnostic]) -> ParkingConfig:
    """Read res_parking.conf (a missing file: the default lot, without extensions)."""
    cfg = ParkingConfig()
    if not path.exists():
        return cfg
    conf = read_conf(path, diagnostics)
    for section in conf.sections:
        if section.is_template:
            continue
        if section.name.lower() == "general":
            for e in section.entries:
                if e.key == "parkeddynamic":
                    if _BOOL.get(e.value.lower()):
                        diagnostics.append(e.diag("parkeddynamic: dynamic parking lots are not "
                                                  "supported", severity="warning"))
                else:
                    diagnostics.append(e.diag(f"res_parking.conf: unknown option '{e.key}' in "
                                              "[general]", on_value=False, severity="warning"))
            continue
        lot = ParkingLotConfig(section.name, file=section.file, line=section.line,
                               col=section.col)
        for e in section.entries:
            _lot_option(lot, e, diagnostics)
        cfg.lots[lot.name] = lot
    _check_overlaps(cfg, diagnostics)
    return cfg


def _lot_option(lot: ParkingLotConfig, e: Entry, diagnostics: list[Diagnostic]) -> None:
    key, value = e.key, e.value
    if key == "parkext":
        if value and not value.isdigit() and not value.replace("*", "").replace("#", ""). \
                isdigit():
            diagnostics.append(e.diag(f"parkext: '{value}' is not an extension number"))
            return
        lot.parkext = value
        lot.ext_line = e.line
    elif key == "parkpos":
        lo, sep, hi = value.partition("-")
        if not (lo.strip().isdigit() and hi.strip().isdigit()) or not sep:
            diagnostics.append(e.diag(f"parkpos: '{value}' is not a range like 701-720"))
            return
        first, last = int(lo), int(hi)  # leading zeros are dropped, as in Asterisk
        if first > last:
            diagnostics.append(e.diag(f"parkpos: {first} is after {last}"))
            return
        lot.parkpos = (first, last)
    elif key == "context":
        if not value:
            diagnostics.append(e.diag("context: a context name is needed"))
            return
        lot.context = value
    elif key in ("parkingtime", "comebackdialtime"):
        try:
            seconds = float(value)
        except ValueError:
            diagnostics.append(e.diag(f"{key}: '{value}' is not a number of seconds"))
            return
        if seconds < 0:
            diagnostics.append(e.diag(f"{key}: must not be negative"))
            return
        setattr(lot, key, seconds)
    elif key in ("comebacktoorigin", "parkinghints"):
        flag = _BOOL.get(value.lower())
        if flag is None:
            diagnostics.append(e.diag(f"{key}: expected yes or no"))
            return
        setattr(lot, key, flag)
    elif key == "findslot":
        if value.lower() not in ("first", "next"):
            diagnostics.append(e.diag("findslot: expected first or next"))
            return
        lot.findslot = value.lower()
    elif key == "parkedplay":
        if value.lower() not in ("caller", "parked", "both"):
            diagnostics.append(e.diag("parkedplay: expected caller, parked or both"))
            return
        lot.parkedplay = value.lower()
    elif key in ("comebackcontext", "parkedmusicclass", "courtesytone"):
        setattr(lot, key, value)
    elif key not in _IGNORED:
        diagnostics.append(e.diag(f"res_parking.conf: unknown option '{key}' in "
                                  f"[{lot.name}]", on_value=False, severity="warning"))


def _check_overlaps(cfg: ParkingConfig, diagnostics: list[Diagnostic]) -> None:
    """Generated extensions must not overlap (res_parking refuses such a lot)."""
    claimed: dict[tuple[str, str], str] = {}
    for lot in cfg.lots.values():
        if not lot.parkext:
            continue
        for exten in (str(s) for s in lot.spaces):
            key = (lot.context, exten)
            if key in claimed or exten == lot.parkext:
                diagnostics.append(Diagnostic(lot.file, lot.line, lot.col,
                                              f"parking lot [{lot.name}]: space {exten} in "
                                              f"'{lot.context}' overlaps "
                                              f"{claimed.get(key, 'its parkext')}"))
                return
            claimed[key] = f"lot [{lot.name}]"


def add_parking_extensions(dialplan: Any, cfg: ParkingConfig,
                           diagnostics: list[Diagnostic]) -> None:
    """Put each lot's extensions into the dialplan (its context is created if
    extensions.conf has none); an extension the file already defines wins, with
    a warning, as res_parking cannot register over it."""
    from dialplan.model import Context, Extension, Pos, Step

    for lot in cfg.lots.values():
        if not lot.parkext:
            continue
        pos = Pos(lot.file, lot.ext_line, 1)
        ctx = dialplan.contexts.get(lot.context)
        if ctx is None:
            ctx = dialplan.contexts[lot.context] = Context(lot.context, Pos(lot.file, lot.line,
                                                                            lot.col))
        wanted = [(lot.parkext, "Park", lot.name, None)]
        wanted += [(str(s), "ParkedCall", f"{lot.name},{s}",
                    f"park:{s}@{lot.context}" if lot.parkinghints else None)
                   for s in lot.spaces]
        for exten, app, args, hint in wanted:
            if (exten, None) in ctx.extensions:
                diagnostics.append(Diagnostic(lot.file, lot.line, lot.col,
                                              f"parking lot [{lot.name}]: extension {exten} "
                                              f"already exists in '{lot.context}'; the lot "
                                              "does not replace it", "warning"))
                continue
            ext = Extension(exten, None, pos=pos, hint=hint)
            ext.steps[1] = Step(1, app, args, None, pos, pos)
            if hint:  # as the parser keeps hints: priority -1, never run
                ext.steps[-1] = Step(-1, hint, "", None, pos, pos)
            ctx.extensions[(exten, None)] = ext
        dialplan.indexes.pop(lot.context, None)  # built again with the lot's extensions

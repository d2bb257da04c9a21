"""Call detail records: what the dialplan sets on a call's record, and the row.

`CdrVars` lives on each channel (`channel.cdr`): what CDR() and CDR_PROP()
wrote. `cdr_row(channel, now)` is the record the store gets when the calling
leg ends (None when CDR_PROP(disable) turned it off); `field_value` is what
`${CDR(name)}` reads while the call runs. Field names, formats and the
read-only set are Asterisk's (cdr.c, func_cdr.c).

Transfers (pbx.transfer): the transferer's record gets ``transfer`` (type,
role, transferee, target); the transferee gets a new record from the transfer
on (its record so far, if its own dialplan kept one, is written at the
transfer), with ``transfer`` and the first call's ``linkedid``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pbx import q850

# AMA flags: name <-> the number CDR(amaflags,u) reads (cdr.h AST_AMA_*).
AMAFLAGS = {"OMIT": 1, "BILLING": 2, "DOCUMENTATION": 3}

# Fields the dialplan may read but not write (func_cdr.c cdr_read_only).
READ_ONLY = frozenset({
    "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "uniqueid", "linkedid",
    "sequence",
})
WRITABLE = frozenset({"accountcode", "peeraccount", "amaflags", "userfield"})

# CDR(disposition,u): cdr.h AST_CDR_* values.
_DISPOSITION_CODES = {"NO ANSWER": 0, "FAILED": 1, "BUSY": 2, "ANSWERED": 4, "CONGESTION": 8}


class CdrError(ValueError):
    """A CDR write the record does not accept (read-only field, bad AMA flag)."""


@dataclass(slots=True)
class CdrVars:
    """What the dialplan set on one call's record."""

    accountcode: str = ""
    peeraccount: str = ""
    amaflags: str = "DOCUMENTATION"  # Asterisk's default
    userfield: str = ""
    custom: dict[str, str] = field(default_factory=dict)  # CDR(anything)=value
    disabled: bool = False  # CDR_PROP(disable)=1: no record for this call

    def set(self, name: str, value: str) -> None:
        """`Set(CDR(name)=value)`; CdrError for a read-only field or a bad AMA flag."""
        key = name.strip().lower()
        if key in READ_ONLY:
            raise CdrError(f"CDR({name}) is read-only")
        if key == "amaflags":
            flag = value.strip().upper()
            if flag.isdigit():
                flag = next((n for n, v in AMAFLAGS.items() if v == int(flag)), "")
            if flag not in AMAFLAGS:
                raise CdrError(f"CDR(amaflags): {value!r} is not OMIT, BILLING or DOCUMENTATION")
            self.amaflags = flag
        elif key in WRITABLE:
            setattr(self, key, value)
        else:
            self.custom[name.strip()] = value


def disposition(ch: Any) -> str:
    """ANSWERED, NO ANSWER, BUSY or FAILED for the calling leg, as Asterisk reports it."""
    if ch.answered_at:
        return "ANSWERED"
    status = ch.variables.get("DIALSTATUS", "")
    if status == "BUSY" or ch.hangup_cause == q850.USER_BUSY:
        return "BUSY"
    if status in ("CHANUNAVAIL", "CONGESTION"):
        return "FAILED"  # even when the dialplan then ends with a plain Hangup()
    # Cause 0: still running (CDR(disposition) read by the dialplan), as Asterisk's
    # record starts out: NO ANSWER.
    if status in ("NOANSWER", "CANCEL") or ch.hangup_cause in (0, q850.NORMAL_CLEARING,
                                                                q850.NO_ANSWER):
        return "NO ANSWER"
    return "FAILED"


def rtp_stats(stats: Any) -> dict:
    """The RTP figures kept with the record (empty when there was no media)."""
    if stats is None:
        return {}
    fields = ("packets_sent", "packets_received", "lost", "jitter_ms")
    return {f: getattr(stats, f) for f in fields if hasattr(stats, f)}


def _answer_time(ch: Any) -> float | None:
    answer = ch.answered_at
    dst = getattr(ch, "dst_channel", None)
    if dst is not None and dst.answered_at:
        answer = dst.answered_at
    return answer


def _clid(ch: Any) -> str:
    return f'"{ch.callerid.name}" <{ch.callerid.num}>'


def field_value(ch: Any, name: str, now: float, *, unparsed: bool = False,
                fractional: bool = False) -> str:
    """`${CDR(name[,options])}` while the call runs (options u: epoch and numeric
    codes instead of formatted text; f: fractional duration and billsec)."""
    key = name.strip().lower()
    cdr: CdrVars = ch.cdr
    end = getattr(ch, "ended_at", None)
    if key in ("start", "answer", "end"):
        when = {"start": ch.created_at, "answer": _answer_time(ch), "end": end}[key]
        if not when:
            return "" if not unparsed else "0.000000"
        if unparsed:
            return f"{when:.6f}"
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    if key in ("duration", "billsec"):
        stop = end or now
        since = ch.created_at if key == "duration" else _answer_time(ch)
        seconds = max(0.0, stop - since) if since else 0.0
        return f"{seconds:.6f}" if fractional else str(int(seconds))
    if key == "disposition":
        text = disposition(ch)
        return str(_DISPOSITION_CODES[text]) if unparsed else text
    if key == "amaflags":
        return str(AMAFLAGS.get(cdr.amaflags, 3)) if unparsed else cdr.amaflags
    dst = getattr(ch, "dst_channel", None)
    simple = {
        "clid": _clid, "src": lambda c: c.callerid.num, "dst": lambda c: c.exten,
        "dcontext": lambda c: c.context, "channel": lambda c: c.name,
        "dstchannel": lambda c: dst.name if dst is not None else "",
        "lastapp": lambda c: c.lastapp, "lastdata": lambda c: c.lastdata,
        "uniqueid": lambda c: c.uniqueid, "linkedid": lambda c: c.linkedid or c.uniqueid,
        "sequence": lambda c: "0",
    }
    if key in simple:
        return simple[key](ch)
    if key in WRITABLE:
        return str(getattr(cdr, key))
    return cdr.custom.get(name.strip(), "")


def cdr_row(ch: Any, now: float) -> dict[str, Any] | None:
    """The record of a finished call (the calling leg), or None when disabled."""
    cdr: CdrVars = ch.cdr
    if cdr.disabled:
        return None
    end = getattr(ch, "ended_at", None) or now
    dst = getattr(ch, "dst_channel", None)
    answer = _answer_time(ch)
    rtp = {"a": rtp_stats(getattr(ch, "stats", None))}
    if dst is not None:
        rtp["b"] = rtp_stats(dst.stats or dst.media.stats())
    return {
        "uniqueid": ch.uniqueid, "start": ch.created_at, "answer": answer, "end": end,
        "src": ch.callerid.num, "dst": ch.exten, "dcontext": ch.context,
        "clid": _clid(ch), "channel": ch.name, "dstchannel": dst.name if dst else "",
        "lastapp": ch.lastapp, "lastdata": ch.lastdata,
        "duration": round(end - ch.created_at),
        "billsec": round(end - answer) if answer else 0,
        "disposition": disposition(ch), "hangupcause": ch.hangup_cause, "rtp": rtp,
        "accountcode": cdr.accountcode, "peeraccount": cdr.peeraccount,
        "amaflags": cdr.amaflags, "userfield": cdr.userfield, "vars": dict(cdr.custom),
        "recordings": recordings(ch),
        # The call chain (Asterisk's linkedid: a transferee's new record keeps the
        # first call's) and, for a leg a transfer involved, what it did (pbx.transfer).
        "linkedid": getattr(ch, "linkedid", "") or ch.uniqueid,
        "transfer": dict(getattr(ch, "transfer", {}) or {}),
    }


def recordings(ch: Any) -> list[str]:
    """The MixMonitor files of the call: the calling leg's, then the dialed leg's."""
    out = list(getattr(ch, "recordings", ()))
    dst = getattr(ch, "dst_channel", None)
    for path in getattr(dst, "recordings", ()) if dst is not None else ():
        if path not in out:
            out.append(path)
    return out

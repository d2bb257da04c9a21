"""The call detail record of one call, built from its calling leg when it ends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pbx import q850

if TYPE_CHECKING:
    from pbx.sipchannel import SipChannel


def cdr_row(ch: SipChannel) -> dict[str, Any]:
    """The CDR of the call ``ch`` made (its dialed leg is ``ch.dst_channel``)."""
    end = ch.ended_at or time.time()
    dst = ch.dst_channel
    answer = ch.answered_at
    if dst is not None and dst.answered_at:
        answer = dst.answered_at
    rtp = {"a": _rtp_stats(ch.stats)}
    if dst is not None:
        rtp["b"] = _rtp_stats(dst.stats or dst.media.stats())
    return {
        "uniqueid": ch.uniqueid, "start": ch.created_at, "answer": answer, "end": end,
        "src": ch.callerid.num, "dst": ch.exten, "dcontext": ch.context,
        "clid": f'"{ch.callerid.name}" <{ch.callerid.num}>',
        "channel": ch.name, "dstchannel": dst.name if dst else "",
        "lastapp": ch.lastapp, "lastdata": ch.lastdata,
        "duration": round(end - ch.created_at),
        "billsec": round(end - answer) if answer else 0,
        "disposition": _disposition(ch), "hangupcause": ch.hangup_cause, "rtp": rtp,
    }


def _disposition(ch: SipChannel) -> str:
    if ch.answered_at:
        return "ANSWERED"
    status = ch.variables.get("DIALSTATUS", "")
    if status == "BUSY" or ch.hangup_cause == q850.USER_BUSY:
        return "BUSY"
    if status in ("CHANUNAVAIL", "CONGESTION"):
        return "FAILED"  # even when the dialplan then ends with a plain Hangup()
    if status in ("NOANSWER", "CANCEL") or ch.hangup_cause in (q850.NORMAL_CLEARING,
                                                                q850.NO_ANSWER):
        return "NO ANSWER"
    return "FAILED"


def _rtp_stats(stats: Any) -> dict:
    if stats is None:
        return {}
    fields = ("packets_sent", "packets_received", "lost", "jitter_ms")
    return {f: getattr(stats, f) for f in fields if hasattr(stats, f)}

"""Q.850 hangup causes <-> SIP status codes (RFC 3398 sec. 7.2.4.1 and 8.2.6.1),
the Reason header (RFC 3326) and Dial()'s DIALSTATUS from its legs' causes."""

from __future__ import annotations

import re
from collections.abc import Iterable

UNALLOCATED = 1
NO_ROUTE_DESTINATION = 3
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
NUMBER_CHANGED = 22
INVALID_NUMBER_FORMAT = 28
NORMAL_UNSPECIFIED = 31
CONGESTION = 34  # NORMAL_CIRCUIT_CONGESTION
NETWORK_OUT_OF_ORDER = 38
TEMPORARY_FAILURE = 41
BEARER_NOT_AVAIL = 58
INCOMPATIBLE_DESTINATION = 88
INTERWORKING = 127

# Names the Hangup() application accepts (Asterisk's ast_str2cause, plus the
# short aliases of causes.h that dialplans use: BUSY, CONGESTION, FAILURE, ...).
CAUSE_NAMES = {
    "UNALLOCATED": UNALLOCATED, "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": NO_ROUTE_DESTINATION, "MISDIALLED_TRUNK_PREFIX": 5,
    "CHANNEL_UNACCEPTABLE": 6, "CALL_AWARDED_DELIVERED": 7, "PRE_EMPTED": 8,
    "NUMBER_PORTED_NOT_HERE": 14, "NORMAL_CLEARING": NORMAL_CLEARING, "NORMAL": NORMAL_CLEARING,
    "USER_BUSY": USER_BUSY, "BUSY": USER_BUSY, "NO_USER_RESPONSE": NO_USER_RESPONSE,
    "NO_ANSWER": NO_ANSWER, "NOANSWER": NO_ANSWER, "SUBSCRIBER_ABSENT": SUBSCRIBER_ABSENT,
    "UNREGISTERED": SUBSCRIBER_ABSENT, "CALL_REJECTED": CALL_REJECTED,
    "NUMBER_CHANGED": NUMBER_CHANGED, "REDIRECTED_TO_NEW_DESTINATION": 23,
    "ANSWERED_ELSEWHERE": 26, "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": INVALID_NUMBER_FORMAT, "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30, "NORMAL_UNSPECIFIED": NORMAL_UNSPECIFIED,
    "NORMAL_CIRCUIT_CONGESTION": CONGESTION, "CONGESTION": CONGESTION,
    "NETWORK_OUT_OF_ORDER": NETWORK_OUT_OF_ORDER, "FAILURE": NETWORK_OUT_OF_ORDER,
    "NORMAL_TEMPORARY_FAILURE": TEMPORARY_FAILURE, "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43, "REQUESTED_CHAN_UNAVAIL": 44, "FACILITY_NOT_SUBSCRIBED": 50,
    "OUTGOING_CALL_BARRED": 52, "INCOMING_CALL_BARRED": 54, "BEARERCAPABILITY_NOTAUTH": 57,
    "BEARERCAPABILITY_NOTAVAIL": BEARER_NOT_AVAIL, "BEARERCAPABILITY_NOTIMPL": 65,
    "CHAN_NOT_IMPLEMENTED": 66, "FACILITY_NOT_IMPLEMENTED": 69,
    "INVALID_CALL_REFERENCE": 81, "INCOMPATIBLE_DESTINATION": INCOMPATIBLE_DESTINATION,
    "INVALID_MSG_UNSPECIFIED": 95, "MANDATORY_IE_MISSING": 96, "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98, "IE_NONEXIST": 99, "INVALID_IE_CONTENTS": 100,
    "WRONG_CALL_STATE": 101, "RECOVERY_ON_TIMER_EXPIRE": 102,
    "MANDATORY_IE_LENGTH_ERROR": 103, "PROTOCOL_ERROR": 111, "INTERWORKING": INTERWORKING,
}


def cause_from_name(name: str) -> int | None:
    """The cause for `USER_BUSY`, `AST_CAUSE_USER_BUSY` or `busy`; None if unknown."""
    return CAUSE_NAMES.get(name.strip().upper().removeprefix("AST_CAUSE_"))


# RFC 3398 7.2.4.1: SIP status received -> cause; 480 is NO_ANSWER (19) as in
# Asterisk (chan_sip and chan_pjsip), so a provider's 480 gives DIALSTATUS=NOANSWER.
_SIP_TO_CAUSE = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102,
    410: 22, 413: 127, 414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127,
    480: 19, 481: 41, 482: 25, 483: 25, 484: 28, 485: 1, 486: 17, 487: 16, 488: 88,
    500: 41, 501: 79, 502: 38, 503: 34, 504: 102, 505: 127, 580: 47,
    600: 17, 603: 21, 604: 1, 606: 58,
}

# RFC 3398 8.2.6.1: cause -> SIP status to send; the reason phrases Asterisk uses.
_CAUSE_TO_SIP = {
    1: (404, "Not Found"), 2: (404, "Not Found"), 3: (404, "Not Found"),
    17: (486, "Busy Here"), 18: (408, "Request Timeout"), 19: (480, "Temporarily Unavailable"),
    20: (480, "Temporarily Unavailable"), 21: (403, "Forbidden"), 22: (410, "Gone"),
    23: (410, "Gone"), 26: (404, "Not Found"), 27: (502, "Bad Gateway"),
    28: (484, "Address Incomplete"), 29: (501, "Not Implemented"),
    31: (480, "Temporarily Unavailable"), 34: (503, "Service Unavailable"),
    38: (500, "Server Internal Error"), 41: (503, "Service Unavailable"),
    42: (503, "Service Unavailable"), 47: (503, "Service Unavailable"),
    55: (403, "Forbidden"), 57: (403, "Forbidden"), 58: (488, "Not Acceptable Here"),
    65: (488, "Not Acceptable Here"), 66: (488, "Not Acceptable Here"),
    79: (501, "Not Implemented"), 87: (403, "Forbidden"), 88: (488, "Not Acceptable Here"),
    102: (504, "Server Time-out"), 111: (500, "Server Internal Error"),
    127: (500, "Server Internal Error"),
}


def cause_from_sip(status: int) -> int:
    """The Q.850 cause for a final SIP status (class default when unlisted)."""
    if status in _SIP_TO_CAUSE:
        return _SIP_TO_CAUSE[status]
    if 200 <= status < 300:
        return NORMAL_CLEARING
    return {4: 21, 5: 38, 6: 31}.get(status // 100, INTERWORKING)


def sip_from_cause(cause: int) -> tuple[int, str]:
    """The SIP final response for hanging up an unanswered call with `cause`.

    Normal clearing before answer (the dialplan ended the call) is 480,
    what Asterisk's chan_pjsip sends for it too."""
    return _CAUSE_TO_SIP.get(cause, (480, "Temporarily Unavailable"))


_REASON_RE = re.compile(r"^\s*(Q\.850|SIP)\s*;(?:.*;)?\s*cause\s*=\s*(\d{1,3})\b",
                        re.IGNORECASE)


def reason_cause(values: Iterable[str]) -> int | None:
    """The cause a Reason header (RFC 3326) gives, as Asterisk reads it: a Q.850
    cause wins over a SIP one (mapped like a status); None when there is none."""
    q850 = sip = None
    for value in values:
        m = _REASON_RE.match(value)
        if m is None:
            continue
        if m.group(1).upper() == "SIP":
            sip = int(m.group(2))
        else:
            q850 = int(m.group(2)) & 0x7F
    if q850:
        return q850
    return cause_from_sip(sip) if sip and sip >= 300 else None


def cause_of_response(status: int, reasons: Iterable[str] = ()) -> int:
    """The hangup cause of a failed INVITE: its Reason header's, else the status's."""
    return reason_cause(reasons) or cause_from_sip(status)


def dialstatus(causes: list[int]) -> str:
    """DIALSTATUS when every leg of a Dial failed with ``causes``, as Asterisk's
    app_dial counts them: busy (17), congestion (34), and "no channel" for any
    other cause but normal clearing (16) and no answer (19). When every leg
    counts: BUSY, else CONGESTION, else CHANUNAVAIL; otherwise NOANSWER."""
    busy = congestion = nochan = 0
    for cause in causes:
        if cause == USER_BUSY:
            busy += 1
        elif cause == CONGESTION:
            congestion += 1
        elif cause not in (NORMAL_CLEARING, NO_ANSWER):
            nochan += 1
    if causes and busy + congestion + nochan == len(causes):
        return "BUSY" if busy else "CONGESTION" if congestion else "CHANUNAVAIL"
    return "NOANSWER" if causes else "CHANUNAVAIL"

"""Headers the dialplan adds to the INVITEs of a following Dial(): SIPAddHeader,
PJSIP_HEADER(add|update|remove) and their checks.

chan_sip's SIPAddHeader(Header: value) keeps each header in an inherited
variable, `__SIPADDHEADER01`, `__SIPADDHEADER02`, ... (at most 50), which the
called channel inherits and puts in its INVITE: here Dial reads them from the
caller. PJSIP_HEADER(add,Name)=value keeps its headers on the channel
(Channel.added_headers); in Asterisk they reach the callee's INVITE only when
set in a pre-dial handler, here they go into every INVITE a following Dial()
sends, as the issue asks (Asterisk 22's PJSIP_INHERITABLE_HEADER behaviour).

Safe by default: a header the PBX writes itself to keep the dialog and the
transaction right (Via, From, To, Call-ID, CSeq, Contact, Max-Forwards,
Route, Record-Route, Content-*, authorization) cannot be added; names must
be SIP tokens, values one line of printable text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pbx.sip.headers import canonical_name

__all__ = ["MAX_HEADERS", "HeaderRefused", "check_header", "outbound_headers",
           "parse_sipaddheader", "sipaddheader_vars"]

MAX_HEADERS = 50  # chan_sip's limit of SIPADDHEADER variables
MAX_VALUE = 1024

# Lower-case canonical names the SIP core and the INVITE usage own.
PROTECTED = frozenset({
    "via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "route",
    "record-route", "content-length", "content-type", "content-encoding",
    "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
    "expires", "session-expires", "min-se", "rseq", "rack",
})
_VAR = re.compile(r"_{1,2}SIPADDHEADER(\d*)$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HeaderRefused(ValueError):
    """A header the dialplan may not add, with the reason."""


def check_header(name: str, value: str) -> tuple[str, str]:
    """(canonical name, value) of a header the dialplan may add; HeaderRefused if not."""
    try:
        key, canon = canonical_name(name)
    except ValueError as exc:
        raise HeaderRefused(f"{name!r} is not a header name (letters, digits, -.!%*_+`'~)") \
            from exc
    if key in PROTECTED:
        raise HeaderRefused(f"{canon} is set by the PBX itself and cannot be added")
    value = value.strip(" \t")
    if _BAD_VALUE.search(value):
        raise HeaderRefused(f"the value of {canon} has a line break or a control character")
    if len(value) > MAX_VALUE:
        raise HeaderRefused(f"the value of {canon} is longer than {MAX_VALUE} characters")
    return canon, value


def parse_sipaddheader(text: str) -> tuple[str, str]:
    """`Header: value` (chan_sip strips a `"` at either end) -> (name, value)."""
    body = text.strip()
    if body.startswith('"'):
        body = body[1:]
    name, colon, value = body.partition(":")
    if not colon:
        raise HeaderRefused(f"{text!r} is not 'Header: value'")
    value = value.strip()
    if value.endswith('"'):
        value = value[:-1]
    return check_header(name.strip(), value)


def sipaddheader_vars(variables: Mapping[str, str]) -> list[tuple[int, str, str]]:
    """(number, variable name, text) of the inherited SIPADDHEADERnn variables, in order."""
    found = []
    for name, value in variables.items():
        m = _VAR.match(name)
        if m is not None:
            found.append((int(m.group(1) or 0), name, value))
    found.sort()
    return found


def outbound_headers(variables: Mapping[str, str],
                     added: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What a Dial() from this channel adds to its INVITEs: the SIPAddHeader
    variables, then PJSIP_HEADER's. The apps checked them when they were set;
    a variable set another way that does not pass the check is left out."""
    out: list[tuple[str, str]] = []
    for _, _, text in sipaddheader_vars(variables):
        try:
            out.append(parse_sipaddheader(text))
        except HeaderRefused:
            continue
    out.extend(added)
    return out[:2 * MAX_HEADERS]

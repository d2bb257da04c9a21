"""The NOTIFY bodies of busy lamps: dialog-info (RFC 4235) and PIDF (RFC 3863).

What each extension state says follows Asterisk's
ast_sip_presence_exten_state_to_str (res_pjsip/presence_xml.c): ringing is a
dialog in state `early` with `direction="recipient"` and the caller as the
remote identity (what a phone's BLF key shows and picks up); in use, busy and
on hold are `confirmed` (on hold with `+sip.rendering=no`); idle and
unavailable are `terminated`. PIDF says `open` except when unavailable, with
Asterisk's notes (Ready, Ringing, On the phone, On hold, Unavailable) and the
RPID activity `on-the-phone` while in a call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from pbx.devstate import ExtensionState

if TYPE_CHECKING:
    from pbx.channel import CallerId

DIALOG_INFO = "application/dialog-info+xml"
PIDF = "application/pidf+xml"

_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'


def describe(state: ExtensionState | None) -> tuple[str, bool, str]:
    """(dialog state, PIDF basic open, note) of an extension state."""
    if state is None:  # the hint is gone
        return "terminated", False, "Unavailable"
    if state & ExtensionState.RINGING:
        # INUSE|RINGING is "confirmed" (Asterisk's notify_early_inuse_ringing=no)
        dialog = "confirmed" if state & ExtensionState.INUSE else "early"
        return dialog, True, "Ringing"
    if state & ExtensionState.ONHOLD:
        return "confirmed", True, "On hold"
    if state & (ExtensionState.INUSE | ExtensionState.BUSY):
        return "confirmed", True, "On the phone"
    if state & ExtensionState.UNAVAILABLE:
        return "terminated", False, "Unavailable"
    return "terminated", True, "Ready"


def _uri(value: str) -> str:
    return value.strip().strip("<>")


def dialog_info(entity: str, exten: str, version: int, state: ExtensionState | None, *,
                caller: CallerId | None = None, domain: str = "", local_name: str = "") -> bytes:
    """The full dialog-info document of one watched extension."""
    entity = _uri(entity)
    dialog_state, _, _ = describe(state)
    out = [_PROLOG,
           f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" '
           f'state="full" entity={quoteattr(entity)}>\n']
    if dialog_state == "early":
        out.append(f' <dialog id={quoteattr(exten)} direction="recipient">\n')
        if caller is not None:
            remote = f"sip:{caller.num or 'anonymous'}@{domain}"
            display = f" display={quoteattr(caller.name)}" if caller.name else ""
            out.append(f"  <remote>\n   <identity{display}>{escape(remote)}</identity>\n"
                       f"   <target uri={quoteattr(remote)}/>\n  </remote>\n")
        display = f" display={quoteattr(local_name)}" if local_name else ""
        local = f"sip:{exten}@{domain}" if domain else entity
        out.append(f"  <local>\n   <identity{display}>{escape(local)}</identity>\n"
                   f"   <target uri={quoteattr(entity)}/>\n  </local>\n")
    else:
        out.append(f" <dialog id={quoteattr(exten)}>\n")
    out.append(f"  <state>{dialog_state}</state>\n")
    if state is not None and state & ExtensionState.ONHOLD:
        out.append(f"  <local>\n   <target uri={quoteattr(entity)}>\n"
                   '    <param pname="+sip.rendering" pvalue="no"/>\n'
                   "   </target>\n  </local>\n")
    out.append(" </dialog>\n</dialog-info>\n")
    return "".join(out).encode("utf-8")


def pidf(entity: str, exten: str, state: ExtensionState | None, contact: str = "") -> bytes:
    """The PIDF document of one watched extension (with RPID while on the phone)."""
    entity = _uri(entity)
    dialog_state, basic_open, note = describe(state)
    busy = dialog_state != "terminated"
    out = [_PROLOG,
           '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
           'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
           f'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity={quoteattr(entity)}>\n',
           f" <tuple id={quoteattr(exten)}>\n"
           f"  <status>\n   <basic>{'open' if basic_open else 'closed'}</basic>\n  </status>\n"]
    if contact:
        out.append(f'  <contact priority="1">{escape(_uri(contact))}</contact>\n')
    out.append(" </tuple>\n")
    if busy:
        out.append(' <dm:person id="p1">\n  <rpid:activities>\n   <rpid:on-the-phone/>\n'
                   "  </rpid:activities>\n </dm:person>\n")
    out.append(f" <note>{escape(note)}</note>\n</presence>\n")
    return "".join(out).encode("utf-8")

"""The Replaces header (RFC 3891): which dialog a new INVITE takes over.

Used in two places: an INVITE carrying ``Replaces:`` (a phone picking up a
ringing call, or finishing a transfer itself) and a REFER whose ``Refer-To``
URI embeds ``?Replaces=...`` (attended transfer, RFC 5589). The tags are
given from the point of view of the UA that receives the Replaces: ``to-tag``
is that UA's own (local) tag, ``from-tag`` the other side's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Replaces", "ReplacesError", "parse_replaces"]


class ReplacesError(ValueError):
    """A Replaces value that cannot name a dialog (answer 400)."""


@dataclass(frozen=True, slots=True)
class Replaces:
    call_id: str
    to_tag: str  # the receiving UA's local tag
    from_tag: str  # the remote tag of that dialog
    early_only: bool = False  # replace only a dialog that is not yet confirmed (486 if it is)

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}"


def parse_replaces(value: str) -> Replaces:
    """``callid;to-tag=x;from-tag=y[;early-only]`` (RFC 3891 section 6.1)."""
    call_id, *params = (p.strip() for p in value.strip().split(";"))
    if not call_id or any(c.isspace() for c in call_id):
        raise ReplacesError("Replaces has no Call-ID")
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, eq, val = param.partition("=")
        name = name.strip().lower()
        if name == "early-only" and not eq:
            early_only = True
        elif name in ("to-tag", "from-tag") and val.strip():
            tags[name] = val.strip()
        elif not name:
            raise ReplacesError("Replaces has an empty parameter")
    if "to-tag" not in tags or "from-tag" not in tags:
        raise ReplacesError("Replaces needs to-tag and from-tag")
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early_only)

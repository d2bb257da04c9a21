"""The company directory's search: voicemail.conf names matched against keypad digits.

What app_directory.c does before it speaks: every mailbox of the context
with a name (and without ``hidefromdir=yes``) is a candidate; its key is the
last name (the text after the first space) or the first name (the whole
name), or an ``alias=`` of the mailbox; the key matches when its letters, as
keypad digits (2 = ABC ... 9 = WXYZ; spaces and punctuation skipped), start
with the digits typed. Matches are sorted as Asterisk sorts them: by key,
the last name followed by the first name, without regard to case.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemail.config import MailboxConfig, VoicemailConfig

__all__ = ["DirectoryEntry", "matches", "search"]

_KEYPAD = {c: d for d, letters in (("2", "ABC"), ("3", "DEF"), ("4", "GHI"), ("5", "JKL"),
                                   ("6", "MNO"), ("7", "PQRS"), ("8", "TUV"), ("9", "WXYZ"))
           for c in letters}


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One person found: their mailbox (the extension dialled) and name."""

    context: str  # the voicemail context
    exten: str  # the mailbox number, which is the extension selected
    name: str
    key: str  # what was matched, for sorting: "Last" + "First" (or the first name / alias)


def matches(key: str, typed: str) -> bool:
    """Whether `key` starts with the letters of the keypad digits `typed`.

    As app_directory's compare(): characters up to space are skipped, any other
    non-letter (a digit other than 1, a dot) stops the match there."""
    if not key:
        return False
    i = 0
    for c in key.upper():
        if i == len(typed):
            return True
        if c == "1":
            d = "1"
        elif c in _KEYPAD:
            d = _KEYPAD[c]
        elif c <= " ":
            continue
        else:
            return False
        if typed[i] != d:
            return False
        i += 1
    return i == len(typed)


def _candidate(mb: MailboxConfig, typed: str, *, last: bool, first: bool,
               alias: bool) -> DirectoryEntry | None:
    name = mb.fullname
    if not name:
        return None
    if last and " " in name:
        first_name, _, last_name = name.partition(" ")
        if matches(last_name, typed):
            return DirectoryEntry(mb.context, mb.mailbox, name, last_name + first_name)
    elif last and matches(name, typed):
        return DirectoryEntry(mb.context, mb.mailbox, name, name)
    if first and matches(name, typed):
        return DirectoryEntry(mb.context, mb.mailbox, name, name)
    if alias:
        for a in _aliases(mb):
            if matches(a, typed):
                return DirectoryEntry(mb.context, mb.mailbox, a, a)
    return None


def _aliases(mb: MailboxConfig) -> list[str]:
    value = mb.options.get("alias", "")
    return [value] if value else []


def search(config: VoicemailConfig, vm_context: str, typed: str, *, last: bool = True,
           first: bool = False, alias: bool = False) -> list[DirectoryEntry]:
    """The entries of `vm_context` whose last name (and/or first name, alias)
    matches `typed`, sorted; an empty `vm_context` searches every context
    when voicemail.conf says searchcontexts=yes, else `default`."""
    if vm_context:
        contexts = {vm_context}
    elif config.general.searchcontexts:
        contexts = None
    else:
        contexts = {"default"}
    found = []
    for mb in config.mailboxes.values():
        if contexts is not None and mb.context not in contexts:
            continue
        if mb.options.get("hidefromdir", "").lower() in ("yes", "true", "1", "on"):
            continue
        entry = _candidate(mb, typed, last=last, first=first, alias=alias)
        if entry is not None:
            found.append(entry)
    found.sort(key=lambda e: e.key.lower())  # a stable sort: ties keep the file's order
    return found

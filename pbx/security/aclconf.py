"""acl.conf: Asterisk's named ACLs (`[name]` sections of `permit=`/`deny=` lines).

sip.conf (`acl=name`), pjsip.conf and pbx.yaml's `security.trusted` refer to
them by name. Templates (`[name](!)`, `[office](base)`) work as in every .conf.
"""

from __future__ import annotations

from pathlib import Path

from pbx.conffile import Entry, read_conf
from pbx.diagnostics import Diagnostic
from pbx.security.acl import Acl, AclError, AclRule

__all__ = ["AclBuilder", "load_acl_conf"]


def load_acl_conf(path: Path, diagnostics: list[Diagnostic]) -> dict[str, Acl]:
    """Every named ACL of acl.conf (an absent file is no ACL at all)."""
    if not path.exists():
        return {}
    conf = read_conf(path, diagnostics)
    acls: dict[str, Acl] = {}
    for section in conf.sections:
        if section.is_template:
            continue
        if section.name in acls:
            diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                          f"ACL [{section.name}] defined twice"))
            continue
        builder = AclBuilder({}, diagnostics)
        for entry in section.entries:
            if entry.key in ("permit", "deny"):
                builder.add(entry)
            else:
                diagnostics.append(entry.diag(f"unknown option '{entry.key}' in ACL "
                                              f"[{section.name}] (permit, deny)",
                                              on_value=False, severity="warning"))
        acls[section.name] = Acl(builder.rules, section.name)
    return acls


class AclBuilder:
    """Collects a section's `permit`/`deny`/`acl` entries in order, with diagnostics.

    The `permit`/`deny` lines form one unnamed list; every `acl=` adds a named
    one; all of them must allow an address (Asterisk's ast_apply_acl).
    """

    def __init__(self, named: dict[str, Acl], diagnostics: list[Diagnostic]) -> None:
        self.named = named
        self.diagnostics = diagnostics
        self.rules: list[AclRule] = []
        self.lists: list[Acl] = []

    def add(self, entry: Entry) -> None:
        """Take one permit=, deny= or acl= entry."""
        if entry.key == "acl":
            for name in (n.strip() for n in entry.value.split(",")):
                acl = self.named.get(name)
                if acl is None:
                    known = ", ".join(sorted(self.named)) or "none defined"
                    self.diagnostics.append(entry.diag(
                        f"acl '{name}' is not defined in acl.conf (known: {known})"))
                else:
                    self.lists.append(acl)
            return
        try:
            self.rules.extend(Acl.parse_rules(entry.key, entry.value))
        except AclError as exc:
            self.diagnostics.append(entry.diag(f"{entry.key}: {exc}"))

    def result(self) -> tuple[Acl, ...]:
        """The lists that apply together (empty: everything allowed)."""
        own = (Acl(self.rules),) if self.rules else ()
        return own + tuple(self.lists)

"""PJSIP_HEADER(action,name[,number]) and PJSIP_INHERITABLE_HEADER (res_pjsip_header_funcs.c).

- `${PJSIP_HEADER(read,Name[,n])}`: the n-th (1) header `Name` of the INVITE
  that started the call; `Name*` matches every header starting with Name
  (`X-*`); headers the dialplan added can be read too.
- `Set(PJSIP_HEADER(add,Name)=value)`: a header for the INVITEs of the next
  Dial() (see pbx.added_headers: in Asterisk only from a pre-dial handler;
  PJSIP_INHERITABLE_HEADER is the same here);
- `Set(PJSIP_HEADER(update,Name[,n])=value)`: change the n-th added one (it
  must exist: the call fails otherwise, as in Asterisk);
- `PJSIP_HEADER(remove,Name)` (read or Set): remove added headers (`Name*`,
  `*` for all); reading it gives how many were removed.
"""

from __future__ import annotations

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, split_args
from pbx.added_headers import MAX_HEADERS, HeaderRefused, check_header


def _args(args: str) -> tuple[str, str, int]:
    parts = [p.strip() for p in split_args(args)]
    action = parts[0].lower() if parts else ""
    name = parts[1] if len(parts) > 1 else ""
    if not name:
        raise DialplanError("PJSIP_HEADER: a header name is required "
                            "(PJSIP_HEADER(read|add|update|remove,name[,number]))")
    number = parts[2] if len(parts) > 2 and parts[2] else "1"
    if not number.isdigit() or int(number) < 1:
        raise DialplanError(f"PJSIP_HEADER: number {number!r} must be 1 or more")
    return action, name, int(number)


def _matching(headers: list[tuple[str, str]], name: str) -> list[int]:
    """Indexes of the headers called `name` (any case), or starting with it when `name*`."""
    if name == "*":
        return list(range(len(headers)))
    if name.endswith("*"):
        prefix = name[:-1].lower()
        return [i for i, (n, _) in enumerate(headers) if n.lower().startswith(prefix)]
    low = name.lower()
    try:
        from pbx.sip.headers import canonical_name

        key = canonical_name(name)[0]  # compact forms: `f` is From
    except ValueError:
        key = low
    return [i for i, (n, _) in enumerate(headers) if n.lower() in (low, key)]


def _remove(scope: Scope, name: str) -> int:
    ch = scope.channel
    if ch is None:
        return 0
    gone = set(_matching(ch.added_headers, name))
    ch.added_headers[:] = [h for i, h in enumerate(ch.added_headers) if i not in gone]
    return len(gone)


@function("PJSIP_HEADER")
def _read(scope: Scope, args: str) -> str:
    action, name, number = _args(args)
    ch = scope.channel
    if ch is None:
        return ""
    if action == "read":
        headers = ch.invite_headers() + ch.added_headers
        found = _matching(headers, name)
        return headers[found[number - 1]][1] if number <= len(found) else ""
    if action == "remove":
        return str(_remove(scope, name))
    raise DialplanError(f"PJSIP_HEADER: '{action}' cannot be read (read, remove); "
                        "add and update are written with Set()")


@writer("PJSIP_HEADER")
@writer("PJSIP_INHERITABLE_HEADER")
def _write(scope: Scope, args: str, value: str) -> None:
    action, name, number = _args(args)
    ch = scope.channel
    if ch is None:
        return
    if action == "remove":
        _remove(scope, name)
        return
    if action not in ("add", "update"):
        raise DialplanError(f"PJSIP_HEADER: unknown action '{action}' (read, add, update, "
                            "remove)")
    try:
        canon, text = check_header(name, value)
    except HeaderRefused as exc:
        raise DialplanError(f"PJSIP_HEADER({action},{name}): {exc}") from exc
    if action == "add":
        if len(ch.added_headers) >= MAX_HEADERS:
            raise DialplanError(f"PJSIP_HEADER: at most {MAX_HEADERS} headers can be added")
        ch.added_headers.append((canon, text))
        return
    found = _matching(ch.added_headers, name)
    if number > len(found):
        raise DialplanError(f"PJSIP_HEADER(update,{name},{number}): no such header was added")
    ch.added_headers[found[number - 1]] = (canon, text)


@function("PJSIP_INHERITABLE_HEADER")
def _read_inheritable(scope: Scope, args: str) -> str:
    action, name, _ = _args(args)
    if action != "remove":
        raise DialplanError("PJSIP_INHERITABLE_HEADER can only be read to remove headers")
    return str(_remove(scope, name))

"""AstDB functions (func_db.c): DB, DB_EXISTS, DB_DELETE, DB_KEYS, DB_KEYCOUNT.

`DB(family/key)` reads and writes the value under `/family/key` (the key may
hold more `/`: `DB(cidname/office/100)` is family `cidname`, key
`office/100`); a value found is also left in DB_RESULT. DB_EXISTS answers
1/0, DB_DELETE returns the value and removes it. The database is the PBX's
store (`pbx database show|put|del` from the shell), reached through
scope.services.astdb.
"""

from __future__ import annotations

import logging

from dialplan.functions import function, writer
from dialplan.services import AstDbPort
from dialplan.substitute import DialplanError, Scope

log = logging.getLogger(__name__)


def _db(scope: Scope) -> AstDbPort:
    db = scope.services.astdb
    if db is None:
        raise DialplanError("the AstDB is not available here (no store)")
    return db


def _split(what: str, args: str) -> tuple[str, str]:
    family, sep, key = args.strip().partition("/")
    if not sep or not family:
        raise DialplanError(f"{what} requires an argument, {what}(<family>/<key>)")
    return family, key


def _result(scope: Scope, value: str) -> None:
    scope.variables["DB_RESULT"] = value


@function("DB")
def _db_read(scope: Scope, args: str) -> str:
    family, key = _split("DB", args)
    value = _db(scope).get(family, key)
    if value is None:
        log.debug("DB: %s/%s not found in database", family, key)
        return ""
    _result(scope, value)
    return value


@writer("DB")
def _db_write(scope: Scope, args: str, value: str) -> None:
    family, key = _split("DB", args)
    if not key or key[0] == "/" or key[-1] == "/" or "//" in key:
        # Asterisk stores it anyway (an empty variable in a key name), with this warning.
        log.warning("DB: key '%s' seems malformed", key)
    _db(scope).put(family, key, value)


@function("DB_EXISTS")
def _db_exists(scope: Scope, args: str) -> str:
    family, key = _split("DB_EXISTS", args)
    value = _db(scope).get(family, key)
    if value is None:
        return "0"
    _result(scope, value)
    return "1"


@function("DB_DELETE")
def _db_delete(scope: Scope, args: str) -> str:
    family, key = _split("DB_DELETE", args)
    db = _db(scope)
    value = db.get(family, key)
    if value is None:
        log.debug("DB_DELETE: %s/%s not found in database", family, key)
        value = ""
    else:
        db.delete(family, key)
    _result(scope, value)
    return value


@writer("DB_DELETE")
def _db_delete_w(scope: Scope, args: str, value: str) -> None:
    # Set(DB_DELETE(family/key)=) deletes too, as in Asterisk.
    _db_delete(scope, args)


def _children(scope: Scope, prefix: str) -> list[str]:
    """The distinct next path components under /prefix, in key order."""
    prefix = prefix.strip().strip("/")
    out: list[str] = []
    for key in _db(scope).keys(prefix):
        rest = key[len(prefix) + 1:].lstrip("/") if prefix else key.lstrip("/")
        part = rest.split("/", 1)[0]
        if part and (not out or out[-1].lower() != part.lower()):
            out.append(part)
    return out


@function("DB_KEYS")
def _db_keys(scope: Scope, args: str) -> str:
    return ",".join(k.replace(",", "\\,") for k in _children(scope, args))


@function("DB_KEYCOUNT")
def _db_keycount(scope: Scope, args: str) -> str:
    return str(len(_children(scope, args)))

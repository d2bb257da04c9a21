"""ENUMLOOKUP, ENUMQUERY, ENUMRESULT (func_enum.c): phone numbers to URIs by DNS.

- `${ENUMLOOKUP(number[,tech[,options[,record#[,zone]]]])}`: the URI of the
  record#-th (1) NAPTR record of `tech` (default pjsip, which takes E2U+sip
  records) for the number, without its scheme (`user@host` for
  `sip:user@host`) unless option `u` or tech `ALL`; option `c` gives the
  number of records instead; `s` an ISN number (`1234*256`), `d` the number
  looked up as it is. Empty when no DNS server answers or nothing matches:
  a lookup takes at most a few seconds (pbx.enum_dns.LOOKUP_TIMEOUT) and
  never blocks other calls.
- `${ENUMQUERY(number[,tech[,zone]])}` looks up once and returns an id;
  `${ENUMRESULT(id,n)}` is the n-th result, `${ENUMRESULT(id,getnum)}` how
  many there are (-1 when the lookup failed).

(Asterisk's `i`, infrastructure ENUM, is looked up as plain ENUM here.)
"""

from __future__ import annotations

import logging

from dialplan.functions import async_function, function
from dialplan.substitute import DialplanError, Scope, split_args
from pbx.enum_dns import DEFAULT_ZONE, EnumResult, enum_domain, enum_results

log = logging.getLogger(__name__)

_STORE = "ENUMQUERY"  # Scope.datastores key: id -> results (None: the lookup failed)


async def _lookup(scope: Scope, number: str, tech: str, zone: str,
                  options: str = "") -> list[EnumResult] | None:
    name = enum_domain(number, zone or DEFAULT_ZONE, options)
    records = await scope.services.naptr_source().naptr(name)
    if records is None:
        return None
    return enum_results(records, number, tech)


def _strip_scheme(result: EnumResult, tech: str, options: str = "") -> str:
    if tech.upper() == "ALL" or "u" in options or ":" not in result.uri:
        return result.uri
    return result.uri.split(":", 1)[1]


@async_function("ENUMLOOKUP")
async def _enumlookup(scope: Scope, args: str) -> str:
    parts = [p.strip() for p in split_args(args)] + [""] * 5
    number, tech, options, record, zone = parts[:5]
    number = number.replace("-", "")
    if not number:
        raise DialplanError("ENUMLOOKUP requires a number: ENUMLOOKUP(number[,tech[,options"
                            "[,record#[,zone-suffix]]]])")
    tech = tech or "pjsip"
    if "i" in options:
        log.info("ENUMLOOKUP: infrastructure ENUM (i) is looked up as plain ENUM")
    results = await _lookup(scope, number, tech, zone, options)
    if "c" in options:
        return "-1" if results is None else str(len(results))
    position = int(record) if record.isdigit() and int(record) > 0 else 1
    if not results or position > len(results):
        return ""
    return _strip_scheme(results[position - 1], tech, options)


@async_function("ENUMQUERY")
async def _enumquery(scope: Scope, args: str) -> str:
    parts = [p.strip() for p in split_args(args)] + [""] * 3
    number, tech, zone = parts[:3]
    if not number:
        raise DialplanError("ENUMQUERY requires a number: ENUMQUERY(number[,tech[,zone]])")
    store = scope.datastores.setdefault(_STORE, {})
    query_id = str(len(store) + 1)
    store[query_id] = (tech or "pjsip", await _lookup(scope, number, tech or "pjsip", zone))
    return query_id


@function("ENUMRESULT")
def _enumresult(scope: Scope, args: str) -> str:
    parts = [p.strip() for p in split_args(args)] + [""] * 2
    query_id, which = parts[:2]
    if not query_id or not which:
        raise DialplanError("ENUMRESULT requires an id and a result number: "
                            "ENUMRESULT(id,resultnum|getnum)")
    found = scope.datastores.get(_STORE, {}).get(query_id)
    if found is None:
        log.warning("ENUMRESULT: no ENUM results for query id %s", query_id)
        return ""
    tech, results = found
    if which.lower() == "getnum":
        return "-1" if results is None else str(len(results))
    if not which.isdigit():
        raise DialplanError(f"ENUMRESULT: invalid result number {which!r}")
    n = int(which)
    if results is None or not 1 <= n <= len(results):
        log.warning("ENUMRESULT: result %s is not valid for query %s", which, query_id)
        return ""
    return _strip_scheme(results[n - 1], tech)

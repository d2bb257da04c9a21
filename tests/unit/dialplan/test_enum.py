"""ENUM: names to look up, NAPTR records to URIs (pbx.enum_dns), the functions
through a real DNS server on loopback (dnspython on both sides), and a lookup
that nobody answers: empty, and within its time bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from pbx.channel import CallerId
from pbx.enum_dns import Naptr, NaptrResolver, enum_domain, enum_results
from tests.unit.dialplan.ivr_fakes import IvrChannel
from tests.unit.dialplan.test_interpreter import dialplan


def test_domains_as_asterisk_builds_them() -> None:
    assert enum_domain("+1-555-1234") == "4.3.2.1.5.5.5.1.e164.arpa"
    assert enum_domain("+4930123", "e164.org.") == "3.2.1.0.3.9.4.e164.org"
    assert enum_domain("1234*256", "freenum.org") == "4.3.2.1.256.freenum.org"
    assert enum_domain("foo.example", "com", "d") == "foo.example.com"


RECORDS = [
    Naptr(100, 20, "u", "E2U+sip", "!^\\+(.*)$!sip:\\1@second.example!"),
    Naptr(100, 10, "U", "E2U+sip", "!^.*$!sip:first@example.com!"),
    Naptr(50, 10, "u", "E2U+voice:tel", "!^(.*)$!tel:\\1!"),
    Naptr(100, 5, "", "E2U+sip", "!^.*$!sip:notterminal@example.com!"),  # no 'u' flag
    Naptr(100, 5, "u", "E2U+sip", "!^.*$!sip:broken"),  # bad regexp
    Naptr(200, 1, "u", "sip+E2U", "!^.*$!sip:old-form@example.com!"),
    Naptr(300, 1, "u", "E2U+sip", "!^\\+49(.*)$!sip:\\1@de.example!"),  # does not match
]


def test_records_filtered_substituted_and_sorted() -> None:
    sip = enum_results(RECORDS, "+15551234", "sip")
    assert [r.uri for r in sip] == ["sip:first@example.com", "sip:15551234@second.example",
                                    "sip:old-form@example.com"]
    assert [r.uri for r in enum_results(RECORDS, "+15551234", "pjsip")] == [r.uri for r in sip]
    everything = enum_results(RECORDS, "+15551234", "ALL")
    assert everything[0].uri == "tel:+15551234" and everything[0].tech == "tel"
    assert len(everything) == 4


class DnsServer(asyncio.DatagramProtocol):
    """A real DNS server on 127.0.0.1 answering NAPTR queries from a table."""

    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone
        self.queries: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text()
        self.queries.append(name)
        response = dns.message.make_response(query)
        records = self.zone.get(name)
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            response.answer.append(dns.rrset.from_text(name, 60, "IN", "NAPTR", *records))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


ZONE = {
    "4.3.2.1.5.5.5.1.e164.arpa.": [
        '100 10 "u" "E2U+sip" "!^.*$!sip:alice@pbx.example!" .',
        '100 20 "u" "E2U+sip" "!^\\\\+(.*)$!sip:\\\\1@backup.example!" .',
        '50 10 "u" "E2U+voice:tel" "!^(.*)$!tel:\\\\1!" .',
    ],
}


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[DnsServer, int]]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: DnsServer(ZONE), local_addr=("127.0.0.1", 0))
    try:
        yield server, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def run_call(text: str, services: DialplanServices) -> IvrChannel:
    ch = IvrChannel("SIP/alice-00000001", context="test", exten="1",
                    callerid=CallerId(num="+1-555-1234"))
    await Interpreter(dialplan(text), services).run(ch)
    return ch


async def test_enumlookup_and_enumquery_through_dns(dns_server: tuple[DnsServer, int]) -> None:
    server, port = dns_server
    services = DialplanServices(naptr=NaptrResolver(["127.0.0.1"], port=port, timeout=2.0))
    text = """[test]
exten => 1,1,Set(A=${ENUMLOOKUP(${CALLERID(num)})})
 same => n,Set(B=${ENUMLOOKUP(+15551234,sip,,2)})
 same => n,Set(C=${ENUMLOOKUP(+15551234,ALL,c)})
 same => n,Set(D=${ENUMLOOKUP(+15551234,sip,u)})
 same => n,Set(E=${ENUMLOOKUP(+15551234,ALL)})
 same => n,Set(F=${ENUMLOOKUP(+4930123)}|${ENUMLOOKUP(+4930123,,c)})
 same => n,Set(ID=${ENUMQUERY(+15551234,sip)})
 same => n,Set(G=${ENUMRESULT(${ID},getnum)}:${ENUMRESULT(${ID},1)}:${ENUMRESULT(${ID},2)})
 same => n,Hangup()
"""
    ch = await run_call(text, services)
    v = ch.variables
    assert v["A"] == "alice@pbx.example"  # '-' stripped, scheme stripped
    assert v["B"] == "15551234@backup.example"
    assert v["C"] == "3" and v["D"] == "sip:alice@pbx.example"
    assert v["E"] == "tel:+15551234"  # ALL keeps the scheme; order 50 first
    assert v["F"] == "|-1"  # NXDOMAIN: empty, and a count of -1
    assert v["G"] == "2:alice@pbx.example:15551234@backup.example"
    assert "4.3.2.1.5.5.5.1.e164.arpa." in server.queries


async def test_no_dns_answer_is_empty_and_bounded() -> None:
    # A socket that never answers: the lookup gives up after its lifetime.
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    services = DialplanServices(naptr=NaptrResolver(["127.0.0.1"], port=port, timeout=0.5))
    ticks = 0

    async def ticker() -> None:  # the event loop keeps running meanwhile
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    t0 = time.monotonic()
    try:
        ch = await run_call("[test]\nexten => 1,1,Set(X=${ENUMLOOKUP(+15551234)}-end)\n"
                            " same => n,Hangup()\n", services)
    finally:
        task.cancel()
        transport.close()
    elapsed = time.monotonic() - t0
    assert ch.variables["X"] == "-end"
    assert 0.4 < elapsed < 2.0, elapsed
    assert ticks >= 10, "the event loop was blocked during the lookup"


async def test_functions_of_an_awaiting_step_run_once() -> None:
    """The step is substituted again after the lookup: other functions are replayed."""
    calls: list[str] = []

    def count(scope: object, args: str) -> str:
        calls.append(args)
        return f"<{args}>"

    class Source:
        async def naptr(self, name: str) -> list[Naptr]:
            await asyncio.sleep(0)
            return [Naptr(1, 1, "u", "E2U+sip", f"!^.*$!sip:{name[:3]}@x!")]

    services = DialplanServices(naptr=Source())
    services.functions.add("COUNT", count)
    ch = await run_call("[test]\nexten => 1,1,Set(X=${COUNT(a)}${ENUMLOOKUP(+12)}"
                        "${COUNT(b)}${ENUMLOOKUP(+34)}${COUNT(c)})\n same => n,Hangup()\n",
                        services)
    assert ch.variables["X"] == "<a>2.1@x<b>4.3@x<c>"
    assert calls == ["a", "b", "c"]

"""Via/Contact/SDP address of a transport bound to the wildcard."""

from __future__ import annotations

from types import SimpleNamespace

from pbx.sip.address import Address
from pbx.sipcore import SipCore
from pbx.transport.source_address import SourceAddresses


def test_source_toward_loopback_is_loopback() -> None:
    sources = SourceAddresses()
    assert sources.toward("127.0.0.1", 4) == "127.0.0.1"
    assert sources.toward("::1", 6) == "::1"  # also where IPv6 has no route: the fallback
    assert sources.toward("127.0.0.5", 4) == "127.0.0.1"


def test_a_name_is_not_resolved_and_answers_are_remembered() -> None:
    sources = SourceAddresses()
    first = sources.toward("provider.invalid", 4)  # no DNS: the default route's address
    assert first and sources.toward("provider.invalid", 4) == first


def test_sipcore_local_address_of_a_wildcard_transport_follows_the_peer() -> None:
    core = SipCore()
    core.add_transport("udp", SimpleNamespace(local=Address("udp", "0.0.0.0", 5070)))
    core.add_transport("tcp", SimpleNamespace(local=Address("tcp", "127.0.0.1", 5071)))
    assert core.local_address("udp", 4, toward="127.0.0.1") == Address("udp", "127.0.0.1", 5070)
    assert core.local_address("tcp", 4, toward="127.0.0.1") == Address("tcp", "127.0.0.1", 5071)
    assert core.local_address("tls", 4) is None

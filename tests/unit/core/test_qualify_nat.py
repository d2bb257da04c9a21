"""qualify's OPTIONS go where calls go: a NATed phone's REGISTER source (keeping its
binding open), a nat=no phone's Contact, a provider through its outbound proxy;
each peer at its own qualifyfreq / qualify_frequency."""

from __future__ import annotations

import time
from pathlib import Path

from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.qualify import Qualifier
from pbx.sip.address import Address
from pbx.sip.message import make_response
from tests.unit.core.test_b2bua import FakeCore

SIP_CONF = """\
[general]
qualifyfreq=60

[natted]
type=friend
host=dynamic
secret=x
qualify=yes
qualifyfreq=15

[plain]
type=friend
host=dynamic
secret=y
qualify=yes
nat=no

[provider]
type=peer
host=192.0.2.10
port=5070
qualify=yes
outboundproxy=127.0.0.9:5999
"""


def setup(tmp: Path) -> tuple[FakeCore, Qualifier, Location]:
    (tmp / "sip.conf").write_text(SIP_CONF)
    (tmp / "extensions.conf").write_text("[default]\n")
    config = load_config(tmp)
    core = FakeCore()
    location = Location()
    for aor in ("natted", "plain"):
        location.put(Binding(aor=aor, contact=f"sip:{aor}@10.0.0.5:5062",
                             expires_at=time.time() + 600, source_host="127.0.0.1",
                             source_port=40100 if aor == "natted" else 40200))
    return core, Qualifier(core, location, lambda: config), location


def test_pings_go_where_calls_go(tmp_path: Path) -> None:
    core, qualifier, _ = setup(tmp_path)
    qualifier.qualify_due(1000.0)
    sent = {s.request.to_addr.uri.user or s.request.uri.host: s for s in core.sent("OPTIONS")}
    assert sent["natted"].dest == Address("udp", "127.0.0.1", 40100)  # the NAT binding
    assert sent["plain"].dest == Address("udp", "10.0.0.5", 5062)  # nat=no: the Contact
    provider = sent["192.0.2.10"]
    assert provider.dest == Address("udp", "127.0.0.9", 5999)
    assert provider.request.headers.get("Route") == "<sip:127.0.0.9:5999;lr>"
    assert str(provider.request.uri) == "sip:192.0.2.10:5070"
    # An answer makes the provider reachable.
    provider.callback(make_response(provider.request, 200))
    state = qualifier.state_of(qualifier.config().sip.peers["provider"])
    assert state is not None and state.reachable is True


def test_each_peer_at_its_own_frequency(tmp_path: Path) -> None:
    core, qualifier, _ = setup(tmp_path)
    for t in range(0, 61):
        qualifier.qualify_due(1000.0 + t)
    counts: dict[str, int] = {}
    for s in core.sent("OPTIONS"):
        key = s.request.to_addr.uri.user or s.request.uri.host
        counts[key] = counts.get(key, 0) + 1
    # natted every 15 s (0, 15, 30, 45, 60), the others every 60 s ([general]).
    assert counts == {"natted": 5, "plain": 2, "192.0.2.10": 2}

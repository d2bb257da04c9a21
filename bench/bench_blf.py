"""Busy lamps: what one state change costs when many keys watch an extension.

N subscriptions (dialog-info) watch extension 6002 through the real
SubscriptionServer, PresencePackage, HintStates and SipDevices, on a fake SIP
core that only collects the NOTIFYs (no sockets: this measures the PBX's own
work per NOTIFY: hint evaluation, the body, the request). Then 6002 rings,
answers and hangs up R times; every NOTIFY is answered 200 at once so the
next one can go. Prints NOTIFYs per second and microseconds per NOTIFY.

    python bench/bench_blf.py [N] [R]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pbx.channel import CallerId, ChannelState
from pbx.config import load_config
from pbx.devstate import DeviceStates
from pbx.hints import HintStates
from pbx.location import Binding, Location
from pbx.presence import PresencePackage
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, make_response, parse_message
from pbx.sip.timers import TimerHeap
from pbx.sip_devstate import SipDevices
from pbx.subscriptions import SubscriptionServer


class Core:
    """Just enough of the Signalling port: NOTIFYs are answered 200 at once."""

    def __init__(self) -> None:
        self.timers = TimerHeap()
        self.sent = 0

    def now(self) -> float:
        return 1000.0

    def respond(self, tx: object, response: object) -> None:
        pass

    def send_request(self, req: Request, dest: Address, callback, on_failure=None) -> None:
        self.sent += 1
        callback(make_response(req, 200))

    def local_address(self, transport: str = "udp", family: int = 4) -> Address:
        return Address("udp", "127.0.0.1", 5060)


def subscribe(i: int) -> Request:
    data = (f"SUBSCRIBE sip:6002@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK{i}\r\n"
            f"From: <sip:key{i}@127.0.0.1>;tag=t{i}\r\nTo: <sip:6002@127.0.0.1>\r\n"
            f"Call-ID: blf-{i}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:key@127.0.0.1:40000>\r\n"
            "Event: dialog\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n").encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sip.conf").write_text(
            "[general]\n[phone](!)\ntype=friend\nhost=dynamic\ncontext=internal\n"
            "[6001](phone)\n[6002](phone)\n"
            + "".join(f"[key{i}](phone)\n" for i in range(n)))
        (Path(tmp) / "extensions.conf").write_text(
            "[internal]\nexten => 6002,hint,SIP/6002\n")
        config = load_config(tmp)
    core = Core()
    location = Location()
    location.put(Binding(aor="6002", contact="sip:6002@127.0.0.1:5072",
                         expires_at=time.time() + 3600))
    registry = DeviceStates()
    sip = SipDevices(registry, lambda: config, location, lambda p: False)
    sip.install()
    hints = HintStates(registry, lambda: config.dialplan)
    server = SubscriptionServer(core, lambda: config,  # type: ignore[arg-type]
                                lambda: DigestAuthenticator("pbx", b"k" * 32, lambda u: None))
    server.add_package("dialog", PresencePackage(hints))
    for i in range(n):
        server.on_subscribe(subscribe(i), f"tx{i}", Address("udp", "127.0.0.1", 40000))
    assert server.count() == n, server.count()
    core.sent = 0

    class Leg:
        name = "SIP/6002-1"
        peer = config.sip.peers["6002"]
        inbound = False
        state = ChannelState.RING
        held = False
        callerid = CallerId("6001", "Alice")
        created_at = 0.0

    leg = Leg()
    started = time.perf_counter()
    for _ in range(rounds):
        for state in (ChannelState.RING, ChannelState.UP, ChannelState.HUNGUP):
            leg.state = state
            sip.leg_changed(leg)  # type: ignore[arg-type]
    took = time.perf_counter() - started
    print(f"{n} watchers x {rounds} calls (ringing, in use, idle): {core.sent} NOTIFYs in "
          f"{took:.3f} s: {core.sent / took:,.0f} NOTIFY/s, {took / core.sent * 1e6:.1f} us each")


if __name__ == "__main__":
    main()

"""The SIP guard on a fake clock: drops before parsing, refusals, connection gate."""

from __future__ import annotations

from pbx.security.acl import Acl
from pbx.security.banlist import BanList, BanPolicy
from pbx.security.guard import SipGuard
from pbx.security.settings import InputLimits
from pbx.sip.address import Address
from pbx.sip.message import Response, parse_message

SRC = Address("udp", "203.0.113.5", 5062)
LOCAL = Address("udp", "127.0.0.1", 5060)


def options(extra: str = "", body: str = "") -> bytes:
    return (f"OPTIONS sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5062;branch=z9hG4bK1\r\n"
            f"From: <sip:a@b>;tag=1\r\nTo: <sip:pbx>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n{body}").encode()


class Core:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.framing: list[str] = []

    def on_message(self, data: bytes, source: Address, local: Address) -> None:
        self.messages.append(data)

    def on_framing_error(self, source: Address, reason: str, head: bytes = b"",
                         status: int = 400) -> None:
        self.framing.append(reason)


def make(**kw) -> tuple[SipGuard, Core, list[tuple[bytes, Address]], list[float]]:
    clock = [100.0]
    sent: list[tuple[bytes, Address]] = []
    core = Core()
    bans = BanList(kw.pop("policy", BanPolicy()), kw.pop("trusted", ()))
    guard = SipGuard(core, bans, send=lambda d, a: sent.append((d, a)), clock=lambda: clock[0],
                     server_header="PBX", **kw)
    return guard, core, sent, clock


def test_clean_messages_pass_and_banned_sources_are_dropped_unread() -> None:
    guard, core, sent, clock = make()
    guard.on_message(options(), SRC, LOCAL)
    assert core.messages == [options()]
    guard.bans.ban(SRC.host, clock[0], 60)
    guard.on_message(b"\xff" * 100, SRC, LOCAL)  # not even looked at
    guard.on_message(options(), Address("tcp", SRC.host, 9999), LOCAL)
    assert len(core.messages) == 1 and sent == [] and guard.stats["banned"] == 2


def test_general_acl_denies_before_parsing() -> None:
    acl = Acl.from_lines([("deny", "0.0.0.0/0"), ("permit", "192.168.0.0/16")])
    guard, core, sent, _ = make(access=(acl,))
    guard.on_message(options(), SRC, LOCAL)
    guard.on_message(options(), Address("udp", "192.168.7.7", 5060), LOCAL)
    assert len(core.messages) == 1 and sent == [] and guard.stats["denied"] == 1


def test_oversize_gets_513_built_from_the_head_only() -> None:
    guard, core, sent, _ = make(limits=InputLimits(max_message_size=4096))
    big = options("X-Pad: " + "a" * 5000 + "\r\n")
    guard.on_message(big, SRC, LOCAL)
    assert core.messages == []
    (data, dest), = sent
    resp = parse_message(data)
    assert isinstance(resp, Response) and resp.status == 513 and dest == SRC
    assert resp.call_id == "c1" and resp.cseq == (1, "OPTIONS") and resp.to_addr.tag
    assert resp.headers.get("Server") == "PBX"


def test_header_caps_get_400_and_ack_or_responses_get_nothing() -> None:
    guard, core, sent, _ = make(limits=InputLimits(max_headers=20, max_header_line=1000))
    guard.on_message(options("".join(f"X-H{i}: v\r\n" for i in range(30))), SRC, LOCAL)
    guard.on_message(options("X-Long: " + "b" * 2000 + "\r\n"), SRC, LOCAL)
    assert [parse_message(d).reason for d, _ in sent] == [
        "Bad Request - Too Many Headers", "Bad Request - Header Too Long"]
    ack = options("".join(f"X-H{i}: v\r\n" for i in range(30))).replace(b"OPTIONS", b"ACK")
    guard.on_message(ack, SRC, LOCAL)
    guard.on_message(b"SIP/2.0 200 OK\r\n" + b"X: y\r\n" * 30 + b"\r\n", SRC, LOCAL)
    assert len(sent) == 2 and core.messages == []


def test_tcp_framing_error_answered_513_then_core_told() -> None:
    guard, core, sent, _ = make()
    head = options().split(b"Content-Length")[0] + b"Content-Length: 1000000\r\n\r\n"
    guard.on_framing_error(Address("tcp", "203.0.113.5", 40000), "message too large", head, 513)
    assert core.framing == ["message too large"]
    assert parse_message(sent[0][0]).status == 513


def test_connection_gate_limits_per_source_and_total_trusted_exempt() -> None:
    office = Acl.from_lines([("permit", "10.0.0.0/8")])
    guard, _, _, _ = make(limits=InputLimits(tcp_per_source=2, tcp_total=5), trusted=(office,))
    a = Address("tcp", "203.0.113.5", 1)
    assert guard.admit_connection(a, 0, 0) and guard.admit_connection(a, 1, 1)
    assert not guard.admit_connection(a, 2, 2)
    assert not guard.admit_connection(Address("tcp", "198.51.100.1", 1), 0, 5)
    assert guard.admit_connection(Address("tcp", "10.1.1.1", 1), 50, 5)  # the office NAT
    guard.bans.ban(a.host, 100.0)
    assert not guard.admit_connection(a, 0, 0)


def test_a_connect_flood_counts_towards_the_rate_ban() -> None:
    guard, _, _, clock = make(policy=BanPolicy(rate=10, rate_window=1))
    a = Address("tcp", "203.0.113.5", 1)
    results = []
    for _ in range(30):
        clock[0] += 0.01
        results.append(guard.admit_connection(a, 0, 0))
    assert results[:10] == [True] * 10 and not any(results[11:])
    assert guard.bans.is_banned(a.host, clock[0])

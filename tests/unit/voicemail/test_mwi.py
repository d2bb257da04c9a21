"""MWI: RFC 3842 bodies, unsolicited NOTIFY and SUBSCRIBE with expiry."""

from __future__ import annotations

from pathlib import Path

from pbx.store import Store
from tests.unit.voicemail.conftest import make_channel, make_service
from voicemail.deposit import leave_voicemail
from voicemail.menu import voicemail_main
from voicemail.mwi import MwiNotifier, Subscription, message_summary, parse_mailboxes, parse_summary


def test_body_format() -> None:
    assert message_summary(2, 8, "sip:123@pbx") == (
        b"Messages-Waiting: yes\r\nMessage-Account: sip:123@pbx\r\n"
        b"Voice-Message: 2/8 (0/0)\r\n")
    assert message_summary(0, 3) == b"Messages-Waiting: no\r\nVoice-Message: 0/3 (0/0)\r\n"


def test_parse_mailboxes() -> None:
    assert parse_mailboxes("6001@default, 6002&6003@sales,6001") == \
        ["6001@default", "6002@default", "6003@sales"]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


Sent = list[tuple[str | None, dict[str, str], Subscription | None]]


def recorder(sent: Sent):  # type: ignore[no-untyped-def]
    def send(peer: str | None, body: bytes, sub: Subscription | None) -> None:
        sent.append((peer, parse_summary(body), sub))
    return send


async def test_counts_after_deposit_and_after_play(store: Store, tmp_path: Path) -> None:
    sent: Sent = []
    clock = Clock()
    mwi = MwiNotifier(recorder(sent), realm="pbx.test", clock=clock)
    mwi.set_peers({"ZhangSan": "123@default", "Bob": "124", "Carol": None})
    svc = await make_service(store, tmp_path, mwi=mwi)

    sub = await mwi.subscribe("phone-x", dialog="dlg-1", expires=600, mailboxes="123@default")
    assert sub is not None and sub.state_header() == "active;expires=600"
    assert sent == [("phone-x", {"Messages-Waiting": "no", "Message-Account": "sip:123@pbx.test",
                                 "Voice-Message": "0/0 (0/0)"}, sub)]
    sent.clear()

    await leave_voicemail(svc, make_channel(), "123", "u")
    assert [(p, b["Voice-Message"], b["Messages-Waiting"], s is not None)
            for p, b, s in sent] == [("ZhangSan", "1/0 (0/0)", "yes", False),
                                     ("phone-x", "1/0 (0/0)", "yes", True)]
    sent.clear()

    ch = make_channel(script="1234#" "1" "#")
    await voicemail_main(svc, ch, "123")
    assert [(p, b["Voice-Message"], b["Messages-Waiting"]) for p, b, _ in sent] == \
        [("ZhangSan", "0/1 (0/0)", "no"), ("phone-x", "0/1 (0/0)", "no")]
    sent.clear()

    # Nothing changed: no NOTIFY.
    assert not await mwi.mailbox_changed("123@default")
    assert sent == []

    # The subscription expires: later changes only go to the peer.
    clock.t += 601
    await leave_voicemail(svc, make_channel(), "123", "u")
    assert [p for p, _, _ in sent] == ["ZhangSan"]
    assert mwi.subscriptions() == []


async def test_subscribe_refresh_and_unsubscribe() -> None:
    sent: Sent = []
    clock = Clock()
    mwi = MwiNotifier(recorder(sent), clock=clock, max_expires=3600)

    async def counts(key: str) -> tuple[int, int]:
        return (3, 1) if key == "6001@default" else (0, 0)

    mwi.counts = counts
    mwi.set_peers({"6001": "6001@default"})
    assert await mwi.subscribe("nobody", None, 60) is None  # nothing to watch: 404
    sub = await mwi.subscribe("6001", "dlg", 99999)  # the peer's own mailbox=
    assert sub is not None and sub.remaining() == 3600
    assert sent[-1][1]["Voice-Message"] == "3/1 (0/0)"
    clock.t += 100
    again = await mwi.refresh(sub.id, 120)
    assert again is sub and sub.state_header() == "active;expires=120"
    ended = await mwi.refresh(sub.id, 0)
    assert ended is not None and ended.state_header() == "terminated;reason=timeout"
    assert mwi.find(sub.id) is None
    # An unsolicited state for a peer that registers.
    sent.clear()
    assert await mwi.notify_peer("6001")
    assert sent == [("6001", {"Messages-Waiting": "yes", "Message-Account": "sip:6001@pbx",
                              "Voice-Message": "3/1 (0/0)"}, None)]
    assert not await mwi.notify_peer("unknown")

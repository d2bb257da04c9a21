"""VoiceMailMain() with scripted DTMF: login, counts, play, delete, save, options."""

from __future__ import annotations

import wave

import numpy as np

from tests.unit.voicemail.conftest import make_channel, tone
from voicemail.deposit import leave_voicemail
from voicemail.menu import ENVELOPE_DATE, voicemail_main
from voicemail.service import VoicemailService


async def _leave(service: VoicemailService, freq: float, box: str = "123") -> None:
    ch = make_channel(recordings=[(tone(freq, 1.0), "dtmf:#")])
    assert (await leave_voicemail(service, ch, box, "")).status == "SUCCESS"


async def test_wrong_pin_three_times(service: VoicemailService) -> None:
    ch = make_channel(script="1111#2222#3333#")
    result = await voicemail_main(service, ch, "123@default")
    assert not result.logged_in
    assert ch.played == ["vm-password", "vm-incorrect"] * 3 + ["vm-goodbye"]


async def test_mailbox_asked_when_not_given(service: VoicemailService) -> None:
    # Unknown mailbox, then wrong PIN, then right: three tries are allowed.
    ch = make_channel(script="999#1234#123#0000#123#1234##")
    result = await voicemail_main(service, ch, "")
    assert result.logged_in and result.mailbox is not None
    assert result.mailbox.key == "123@default"
    assert ch.played[:6] == ["vm-login", "vm-password", "vm-incorrect-mailbox", "vm-password",
                             "vm-incorrect-mailbox", "vm-password"]


async def test_given_mailbox_that_does_not_exist_is_asked_for(service: VoicemailService) -> None:
    # VoiceMailMain(example) in Asterisk's basic-pbx: no mailbox "example", so the
    # caller is asked for one (vm_execmain), in the context the argument named.
    ch = make_channel(script="123#1234##")
    result = await voicemail_main(service, ch, "example")
    assert result.logged_in and result.mailbox is not None
    assert result.mailbox.key == "123@default"
    assert ch.played[:2] == ["vm-login", "vm-password"]


async def test_right_pin_hears_counts(service: VoicemailService) -> None:
    await _leave(service, 500)
    await _leave(service, 700)
    ch = make_channel(script="1234##")
    result = await voicemail_main(service, ch, "123")
    assert result.logged_in
    i = ch.played.index("vm-youhave")
    assert ch.played[i:i + 4] == ["vm-youhave", "digits/2", "vm-INBOX", "vm-messages"]


async def test_no_messages_and_skip_pin(service: VoicemailService) -> None:
    ch = make_channel(script="#")
    result = await voicemail_main(service, ch, "123", "s")
    assert result.logged_in
    assert ch.played[:3] == ["vm-youhave", "vm-no", "vm-messages"]
    assert ch.played[-1] == "vm-goodbye"


async def test_play_delete_save(service: VoicemailService) -> None:
    await _leave(service, 500)   # message 1
    await _leave(service, 700)   # message 2
    await _leave(service, 900)   # message 3
    boxes = service.mailboxes
    spool = boxes.dir("default", "123")
    # 1 play first, 7 delete it, 6 next, 9 save (1 = Old), 6 next (third), # exit.
    ch = make_channel(script="1234#" "1" "7" "6" "91" "6" "#")
    result = await voicemail_main(service, ch, "123")
    assert result.logged_in
    p = ch.played
    assert p[p.index("vm-first"):p.index("vm-first") + 3] == \
        ["vm-first", "vm-message", str(spool / "INBOX" / "msg0000")]
    d = p.index("vm-deleted")
    assert p[d - 2:d + 1] == ["vm-message", "digits/1", "vm-deleted"]
    assert "vm-savefolder" in p and p[p.index("vm-savedto") + 1] == "vm-Old"
    assert p[p.index("vm-last"):p.index("vm-last") + 3] == \
        ["vm-last", "vm-message", str(spool / "INBOX" / "msg0002")]
    assert p[-1] == "vm-goodbye"
    # Closed: 1 deleted, 2 saved to Old, 3 heard -> Old. INBOX empty, Old has 2 then 3.
    assert await boxes.counts("default", "123") == (0, 2)
    old = await boxes.messages("default", "123", "Old")
    assert [m.msgnum for m in old] == [0, 1]
    freqs = []
    for m in old:
        with wave.open(str(boxes.wav_path(m))) as w:
            data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        freqs.append(data)
    assert np.array_equal(freqs[0], tone(700, 1.0)) and np.array_equal(freqs[1], tone(900, 1.0))
    assert not list((spool / "INBOX").glob("*.wav"))


async def test_delete_renumbers(service: VoicemailService) -> None:
    for f in (500, 700, 900):
        await _leave(service, f)
    # 1 play first, 6 second, 7 delete, # exit: nothing else heard moves? the first two
    # were heard, so they move to Old; the third stays new.
    ch = make_channel(script="1234#" "1" "6" "7" "#")
    await voicemail_main(service, ch, "123")
    boxes = service.mailboxes
    assert await boxes.counts("default", "123") == (1, 1)
    [inbox] = await boxes.messages("default", "123", "INBOX")
    assert inbox.msgnum == 0  # renumbered from msg0002
    with wave.open(str(boxes.wav_path(inbox))) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert np.array_equal(data, tone(900, 1.0))


async def test_navigation_prompts(service: VoicemailService) -> None:
    await _leave(service, 500)
    await _leave(service, 700)
    # 1 first, 4 (no previous), 6 next, 6 (no more), 5 repeat, 3 envelope, * help, #
    ch = make_channel(script="1234#" "1" "4" "6" "6" "5" "3" "*" "#")
    await voicemail_main(service, ch, "123")
    p = ch.played
    assert p.count("vm-nomore") == 2
    assert "vm-received" in p and "vm-from-phonenumber" in p
    i = p.index("vm-from-phonenumber")
    assert p[i + 1:i + 5] == ["digits/6", "digits/0", "digits/0", "digits/1"]
    assert "vm-instructions" in p


async def test_hangup_while_listening_still_moves_to_old(service: VoicemailService) -> None:
    await _leave(service, 500)
    ch = make_channel(script="1234#1")  # plays message 1, then the caller hangs up
    try:
        await voicemail_main(service, ch, "123")
    except Exception as exc:  # Hangup
        assert type(exc).__name__ == "Hangup"
    assert await service.mailboxes.counts("default", "123") == (0, 1)


async def test_change_pin(service: VoicemailService) -> None:
    ch = make_channel(script="1234#" "0" "5" "4321#" "4321#" "*" "#")
    assert (await voicemail_main(service, ch, "123")).logged_in
    assert "vm-newpassword" in ch.played and "vm-reenterpassword" in ch.played
    assert "vm-passchanged" in ch.played
    ch = make_channel(script="1234#1234#1234#")
    assert not (await voicemail_main(service, ch, "123")).logged_in
    ch = make_channel(script="4321##")
    assert (await voicemail_main(service, ch, "123")).logged_in


async def test_change_pin_mismatch(service: VoicemailService) -> None:
    ch = make_channel(script="1234#" "0" "5" "4321#" "4322#" "*" "#")
    await voicemail_main(service, ch, "123")
    assert "vm-mismatch" in ch.played and "vm-passchanged" not in ch.played
    ch = make_channel(script="1234##")
    assert (await voicemail_main(service, ch, "123")).logged_in


async def test_record_greetings(service: VoicemailService) -> None:
    boxes = service.mailboxes
    ch = make_channel(script="1234#" "01" "02" "03" "04" "*" "#",
                      recordings=[(tone(f, 1.0), "dtmf:#") for f in (300, 400, 500, 600)])
    await voicemail_main(service, ch, "123")
    for kind, prompt in (("unavail", "vm-rec-unv"), ("busy", "vm-rec-busy"),
                         ("greet", "vm-rec-name"), ("temp", "vm-rec-temp")):
        assert boxes.greeting("default", "123", kind) is not None, kind
        assert prompt in ch.played
    # The temporary greeting now exists: 4 then 2 removes it.
    ch = make_channel(script="1234#" "04" "2" "*" "#")
    await voicemail_main(service, ch, "123")
    assert "vm-tmpexists" in ch.played and "vm-tempremoved" in ch.played
    assert boxes.greeting("default", "123", "temp") is None


def test_envelope_date() -> None:
    import time

    from pbx.say import date_with_format

    now = time.mktime((2024, 5, 10, 15, 5, 0, 0, 0, -1))  # a Friday

    def say(when: float) -> list[str]:
        return date_with_format(when, ENVELOPE_DATE, now=now)

    assert say(now) == ["vm-received", "digits/today", "digits/at", "digits/3", "digits/oh",
                        "digits/5", "digits/p-m"]
    assert say(now - 86400)[:2] == ["vm-received", "digits/yesterday"]
    # within the last week: the weekday (Sunday is day-0), as Asterisk says it
    assert say(now - 5 * 86400)[:2] == ["vm-received", "digits/day-0"]
    # older: month and the day as an ordinal
    assert say(now - 20 * 86400)[:4] == ["vm-received", "digits/day-6", "digits/mon-3",
                                         "digits/h-20"]

"""MusicOnHold/StartMusicOnHold/StopMusicOnHold, MixMonitor/StopMixMonitor, CHANNEL(musicclass),
Dial's option syntax and Local targets; the class chosen for a channel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dialplan.apps.dial import parse_targets
from dialplan.apps.mixmonitor import parse_spec
from dialplan.interpreter import Interpreter
from dialplan.options import parse_options
from dialplan.substitute import DialplanError
from pbx.channel import AppError, CallerId, Channel, DialTarget
from pbx.channel_media import ChannelMedia, FeatureServices
from pbx.moh_conf import MohClass, MohConfig
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan


class MohChannel(FakeChannel):
    """Records the music-on-hold and MixMonitor calls the dialplan makes."""

    async def start_moh(self, klass: str | None = None, *, force: bool = False) -> str | None:
        self.check_hangup()
        self.calls.append(("start_moh", klass))
        return klass or self.musicclass or "default"

    def stop_moh(self) -> None:
        self.calls.append(("stop_moh", None))

    async def start_mixmonitor(self, spec: Any) -> str:
        self.calls.append(("mixmonitor", spec))
        if spec.path == "fail.wav":
            raise AppError("MixMonitor: cannot write fail.wav")
        return "id-1"

    def stop_mixmonitor(self, monitor_id: str | None = None) -> bool:
        self.calls.append(("stop_mixmonitor", monitor_id))
        return True


def run_moh(text: str, exten: str = "1") -> MohChannel:
    ch = MohChannel("SIP/alice-00000001", context="test", exten=exten,
                    callerid=CallerId(num="100"))
    asyncio.run(Interpreter(dialplan(text), max_steps=100).run(ch))
    return ch


def test_options_syntax() -> None:
    assert parse_options("tTm(jazz)r") == {"t": None, "T": None, "m": "jazz", "r": None}
    assert parse_options("b(sub^s^1(arg))g") == {"b": "sub^s^1(arg)", "g": None}
    assert parse_options("m") == {"m": None} and parse_options("") == {}
    # A class name with a g in it is not the g option.
    assert "g" not in parse_options("m(gregorian)")


def test_dial_local_targets() -> None:
    assert parse_targets("Local/6001@ringgroup/n&SIP/6002&Local/100") == [
        DialTarget("LOCAL", "ringgroup", "6001", "n"), DialTarget("SIP", "6002"),
        DialTarget("LOCAL", "default", "100", "")]


def test_music_on_hold_for_a_duration_then_stops() -> None:
    ch = run_moh("[test]\nexten => 1,1,MusicOnHold(jazz,3)\n same => n,Hangup()\n")
    assert ("start_moh", "jazz") in ch.calls and ("sleep", 3.0) in ch.calls
    assert ch.calls.index(("stop_moh", None)) > ch.calls.index(("sleep", 3.0))


def test_start_and_stop_music_on_hold_around_other_steps() -> None:
    ch = run_moh("[test]\nexten => 1,1,Set(CHANNEL(musicclass)=office)\n"
                 " same => n,StartMusicOnHold()\n same => n,Wait(2)\n"
                 " same => n,Set(X=${CHANNEL(musicclass)})\n same => n,StopMusicOnHold()\n"
                 " same => n,Hangup()\n")
    kinds = [k for k, _ in ch.calls]
    assert kinds[:3] == ["start_moh", "sleep", "stop_moh"]
    assert ch.musicclass == "office" and ch.variables["X"] == "office"


def test_mixmonitor_options() -> None:
    spec, unused = parse_spec("call-${UNIQUEID}.wav", "abr(in.wav)t(out.wav)v(2)V(-1)i(MID)Pq")
    assert (spec.path, spec.rx_path, spec.tx_path) == ("call-${UNIQUEID}.wav", "in.wav",
                                                       "out.wav")
    assert spec.append and spec.only_bridged and spec.id_variable == "MID"
    assert (spec.rx_volume, spec.tx_volume) == (2, -1) and unused == ["P", "q"]
    spec, _ = parse_spec("x.wav", "W(3)")
    assert (spec.rx_volume, spec.tx_volume) == (3, 3)
    with pytest.raises(DialplanError, match="between -4 and 4"):
        parse_spec("x.wav", "v(9)")
    with pytest.raises(DialplanError, match="file name"):
        parse_spec("", "")
    spec, _ = parse_spec("", "r(only-in.wav)")
    assert spec.path is None and spec.rx_path == "only-in.wav"


def test_mixmonitor_apps_and_a_file_that_cannot_be_written() -> None:
    ch = run_moh("[test]\nexten => 1,1,MixMonitor(call.wav,b)\n same => n,StopMixMonitor()\n"
                 " same => n,MixMonitor(fail.wav)\n same => n,Set(GOT=yes)\n"
                 " same => n,Hangup()\n")
    kinds = [k for k, _ in ch.calls]
    assert kinds.count("mixmonitor") == 2 and "stop_mixmonitor" in kinds
    assert ch.variables["GOT"] == "yes"  # a failed MixMonitor does not end the call


class _Moh:
    def __init__(self, prefer: bool) -> None:
        self.config = MohConfig(classes={"default": MohClass("default")},
                                prefer_channel_class=prefer)


def test_class_order_is_asterisks() -> None:
    ch = Channel("SIP/x-1")
    media = ChannelMedia(ch, object(), FeatureServices(moh=_Moh(True), clock=None,  # type: ignore[arg-type]
                                                       monitor_dir="/tmp"))
    assert media.class_order("held", "mine") == [None, "held", "mine"]
    ch.musicclass = "office"
    assert media.class_order("held", "interp") == ["office", "held", "interp"]
    assert media.class_order("dialm", force=True) == ["dialm", "office", None]
    media.services.moh = _Moh(False)  # type: ignore[union-attr]
    assert media.class_order("held", "interp") == ["held", "office", "interp"]

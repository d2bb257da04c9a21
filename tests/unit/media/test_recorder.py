"""Recorder: sent audio comes back in the WAV; stops on '#', silence, max duration."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMA, alaw_encode
from pbx.media.dtmf import DtmfSender
from pbx.media.recorder import Recorder
from pbx.media.session import MediaSession
from pbx.media.wav import read_wav
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_player import tone
from tests.unit.media.test_session import Peer, allocator, open_peer, rtp


async def _setup() -> tuple[MediaClock, MediaSession, Peer]:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMA)
    return clock, s, peer


async def _stream(peer: Peer, port: int, payload: bytes, seq0: int = 0, paced: bool = True) -> int:
    n = 0
    for i in range(0, len(payload), 160):
        peer.send(rtp(seq0 + n, (seq0 + n) * 160, payload[i:i + 160], pt=8), port)
        n += 1
        if paced and n % 5 == 0:
            await asyncio.sleep(0.02)
    return seq0 + n


async def test_record_until_hash_correlates(tmp_path: Path) -> None:
    clock, s, peer = await _setup()
    pcm = tone(1.0, 300) + tone(0.5, 700)
    path = str(tmp_path / "msg.wav")
    fut = Recorder(s, path).start()
    seq = await _stream(peer, s.local_port, alaw_encode(pcm))
    await asyncio.sleep(0.05)
    assert not os.path.exists(path)  # nothing visible under the final name yet
    for p in DtmfSender().packets("#", 60):
        peer.send(rtp(seq, 99999, p.payload, pt=101, marker=p.marker), s.local_port)
        seq += 1
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "dtmf" and res.digit == "#"
    assert abs(res.seconds - 1.5) < 0.01
    got = np.frombuffer(read_wav(path), "<i2").astype(float)
    sent = np.frombuffer(pcm, "<i2").astype(float)
    assert len(got) == len(sent)
    assert np.corrcoef(got, sent)[0, 1] > 0.99
    assert [f for f in os.listdir(tmp_path)] == ["msg.wav"]  # no temp file left
    assert s.consumer is None
    s.close()
    clock.stop()


async def test_stop_on_silence_trims(tmp_path: Path) -> None:
    clock, s, peer = await _setup()
    path = str(tmp_path / "s.wav")
    fut = Recorder(s, path, silence_seconds=0.5, silence_threshold=128).start()
    await _stream(peer, s.local_port, alaw_encode(tone(0.4)) + alaw_encode(bytes(16000)))
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "silence"
    # 0.4 s of tone + 0.2 s of the trailing silence is kept.
    assert abs(res.seconds - 0.6) < 0.03
    s.close()
    clock.stop()


async def test_max_duration_and_hangup_keep_audio(tmp_path: Path) -> None:
    clock, s, peer = await _setup()
    path = str(tmp_path / "m.wav")
    fut = Recorder(s, path, max_seconds=0.3).start()
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "maxduration" and os.path.exists(path)
    path2 = str(tmp_path / "h.wav")
    fut = Recorder(s, path2).start()
    await _stream(peer, s.local_port, alaw_encode(tone(0.2)))
    await asyncio.sleep(0.1)
    s.close()
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "hangup" and abs(res.seconds - 0.2) < 0.01
    assert len(read_wav(path2)) == 3200
    clock.stop()


async def test_recording_is_on_disk_while_it_is_made(tmp_path: Path) -> None:
    """Issue 14: a voicemail was kept in memory until hang-up; a crash lost it.
    Now the .part file is a valid WAV with what was said so far."""
    from pbx.media.recorder import FLUSH_TICKS, PART_SUFFIX

    clock, s, peer = await _setup()
    pcm = tone(1.0, 440)
    path = str(tmp_path / "msg.wav")
    fut = Recorder(s, path).start()
    await _stream(peer, s.local_port, alaw_encode(pcm))
    await asyncio.sleep(0.05 + FLUSH_TICKS * 0.02 * 2)  # a flush or two
    assert not fut.done()
    part = path + PART_SUFFIX
    on_disk = read_wav(part)  # readable as it is, no repair needed
    assert len(on_disk) == len(pcm)
    got = np.frombuffer(on_disk, "<i2").astype(float)
    assert np.corrcoef(got, np.frombuffer(pcm, "<i2").astype(float))[0, 1] > 0.99
    s.close()  # hang-up ends it: renamed into place
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "hangup" and os.listdir(tmp_path) == ["msg.wav"]
    clock.stop()


async def test_write_failure_ends_the_recording_at_once(tmp_path: Path) -> None:
    """A full disk (here: the file size limit, a real EFBIG from the kernel)
    stops the recording with StorageError while the call goes on."""
    import resource

    from pbx.media.recorder import StorageError

    clock, s, peer = await _setup()
    path = str(tmp_path / "msg.wav")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16000, hard))  # 1 s of audio
    try:
        fut = Recorder(s, path).start()
        await _stream(peer, s.local_port, alaw_encode(tone(3.0, 440)))
        with pytest.raises(StorageError) as ei:
            await asyncio.wait_for(fut, 5)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "cannot write" in str(ei.value) and path in str(ei.value)
    assert s.consumer is None and not s.closed
    clock.stop()
    s.close()


def test_repair_after_a_crash(tmp_path: Path) -> None:
    from pbx.media.wavstream import WavStream, repair

    path = str(tmp_path / "rec.wav.part")
    w = WavStream(path)
    w.write(b"\x01\x02" * 8000)
    w.flush()
    w.write(b"\x03\x04" * 4001 + b"\x05")  # written after the last header update, odd length
    w._file.flush()  # what a kill leaves: the bytes in the file, the header behind
    assert len(read_wav(path)) == 16000  # the header still says 1 s
    assert repair(path) == (16000 + 8002) / 16000
    assert len(read_wav(path)) == 24002
    w.abandon()

"""record_conference files: Asterisk's names, written as the mix goes, kept after a crash."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from pbx.conference.recording import ConferenceRecording, recording_path, recover


def test_names_as_asterisk() -> None:
    mon = Path("/var/monitor")
    assert recording_path(mon, "7000", "", True, now=1700000000.5) == \
        mon / "confbridge-7000-1700000000.wav"
    assert recording_path(mon, "a/b", "", True, now=1) == mon / "confbridge-a_b-1.wav"
    assert recording_path(mon, "7000", "board", False) == mon / "board.wav"
    assert recording_path(mon, "7000", "meet/board.wav", True, now=5) == \
        mon / "meet" / "board-5.wav"
    assert recording_path(mon, "7000", "/tmp/x", False) == Path("/tmp/x.wav")


def test_written_as_it_goes_and_converted_after_a_rate_change(tmp_path: Path) -> None:
    rec = ConferenceRecording(tmp_path / "m" / "r.wav")
    frame8 = (np.ones(160) * 1000).astype("<i2").tobytes()
    for _ in range(20):
        rec.write(frame8, 8000)
    part = tmp_path / "m" / "r.wav.part"
    with wave.open(str(part)) as w:  # valid while recording: flushed every 10 frames
        assert w.getframerate() == 8000 and w.getnframes() == 20 * 160
    frame16 = (np.ones(320) * 1000).astype("<i2").tobytes()
    for _ in range(10):
        rec.write(frame16, 16000)  # a G.722 member joined: 16 kHz mix, kept at 8 kHz
    assert rec.close() == tmp_path / "m" / "r.wav" and not part.exists()
    with wave.open(str(tmp_path / "m" / "r.wav")) as w:
        assert w.getframerate() == 8000 and w.getnframes() == 30 * 160


def test_a_crash_leaves_a_part_file_that_the_next_start_keeps(tmp_path: Path) -> None:
    rec = ConferenceRecording(tmp_path / "confbridge-7000-1.wav")
    for _ in range(25):
        rec.write(bytes(320), 8000)
    # killed here: no close(); 20 frames flushed, 5 written to the buffer only
    recovered = recover(tmp_path)
    assert recovered == [tmp_path / "confbridge-7000-1.wav"]
    with wave.open(str(recovered[0])) as w:
        assert w.getnframes() >= 20 * 160
    assert recover(tmp_path / "nothing-here") == []


def test_a_failing_disk_stops_the_recording_not_the_room(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rec = ConferenceRecording(blocker / "r.wav")  # its folder cannot be made
    rec.write(bytes(320), 8000)
    assert rec.failed and rec.close() is None
    rec.write(bytes(320), 8000)  # ignored from now on

"""Music on hold: every class plays from one shared position on the media clock.

As Asterisk's shared MOH classes do, a class is one stream: each 20 ms tick
takes the next frame of its playlist once, encodes it once per codec that
someone listens in, and sends that payload to every listener of the codec.
Five hundred held callers cost one read, one encode per codec and five
hundred sends a tick, not five hundred players. A caller put on hold joins
the music where it is (the first packet marked, as a new talkspurt), and a
class nobody hears stops ticking and keeps its place.

The playlist is read one file at a time: a file's PCM (8 kHz, 16-bit) is
loaded off the event loop (the `submit` callable; a thread of the loop's
executor by default) while the previous one plays, so a tick never waits for
a disk or a decoder; small classes (the repository's fallback) stay in
memory. A G.722 listener gets the stream upsampled to 16 kHz, once a tick
for the class.

While a session hears music, `session.generating` is set: its bridge stops
forwarding the other leg's audio into it (Asterisk writes no bridged frames
over an active generator), so the held party hears the music alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pbx.media.codecs import Codec
from pbx.media.resample import Upsampler

if TYPE_CHECKING:
    from pbx.media.clock import MediaClock
    from pbx.moh_conf import MohClass, MohConfig

log = logging.getLogger(__name__)

RATE = 8000
FRAME_BYTES = 2 * RATE * 20 // 1000  # one 20 ms frame of 16-bit PCM
SILENCE = bytes(FRAME_BYTES)
# Files of a class are kept in memory while their PCM stays under this (8 MB:
# about 8 minutes of music); bigger classes are read file by file.
CACHE_BUDGET = 8_000_000

Loader = Callable[[str], "bytes | None"]
Submit = Callable[[Callable[[], "bytes | None"], Callable[["bytes | None"], None]], None]


def load_pcm(base: str) -> bytes | None:
    """A playlist entry (base path, no extension) as 8 kHz 16-bit PCM; None if it
    cannot be read (logged)."""
    from pbx.media.prompts import PromptLibrary

    try:
        pcm = PromptLibrary([]).pcm(base, rate=RATE)
    except (ValueError, OSError) as exc:
        log.warning("music on hold: %s", exc)
        return None
    if pcm is None:
        log.warning("music on hold: %s: no such sound file", base)
    return pcm


def executor_submit(loop: asyncio.AbstractEventLoop) -> Submit:
    """Run loads in the loop's default executor; `done` is called on the loop."""
    def submit(job: Callable[[], bytes | None], done: Callable[[bytes | None], None]) -> None:
        fut = loop.run_in_executor(None, job)
        fut.add_done_callback(lambda f: done(None if f.cancelled() or f.exception()
                                             else f.result()))
    return submit


def inline_submit(job: Callable[[], bytes | None],
                  done: Callable[[bytes | None], None]) -> None:
    """Load at once (tests, tools): `done` runs before this returns."""
    done(job())


class MohSource:
    """One class's playlist as a stream of 20 ms frames of 8 kHz PCM."""

    def __init__(self, files: tuple[str, ...] | list[str], sort: str = "alpha", *,
                 submit: Submit = inline_submit, loader: Loader = load_pcm,
                 rng: random.Random | None = None, cache_budget: int = CACHE_BUDGET) -> None:
        self.files = list(files)
        self.sort = sort
        self._submit = submit
        self._loader = loader
        self._rng = rng or random.Random()
        self._budget = cache_budget
        self._cache: dict[str, bytes] = {}
        self._cached_bytes = 0
        self._plan: Iterator[str] | None = None
        self._pcm = b""
        self._mv = memoryview(b"")
        self._pos = 0
        # The file that plays after the current one: (name, its PCM once loaded;
        # b"" when it could not be read).
        self._next: tuple[str, bytes | None] | None = None
        self._failures = 0
        self.current: str | None = None  # the file playing (None: none yet)
        self.played: list[str] = []  # files started, most recent last (bounded)

    def _order(self) -> Iterator[str]:
        """The files, pass after pass: alpha; random (shuffled each pass);
        randstart (alpha, the first pass from a random file)."""
        first = True
        while True:
            order = list(self.files)
            if self.sort == "random":
                self._rng.shuffle(order)
            start = self._rng.randrange(len(order)) if first and self.sort == "randstart" else 0
            first = False
            yield from order[start:]

    def start(self) -> None:
        """Begin the playlist (idempotent: a class keeps its place between listeners)."""
        if self._plan is None and self.files:
            self._plan = self._order()
            self._request(next(self._plan))

    def _request(self, file: str) -> None:
        """Line up `file` to play next: from the cache at once, else loaded off the loop."""
        data = self._cache.get(file)
        if data is not None:
            self._next = (file, data)
            return
        self._next = (file, None)
        self._submit(lambda: self._loader(file), lambda pcm: self._loaded(file, pcm))

    def _loaded(self, file: str, pcm: bytes | None) -> None:
        if pcm and self._cached_bytes + len(pcm) <= self._budget and file not in self._cache:
            self._cache[file] = pcm
            self._cached_bytes += len(pcm)
        if self._next is not None and self._next[0] == file and self._next[1] is None:
            self._next = (file, pcm or b"")

    def _take_next(self) -> bool:
        """Start the lined-up file if it is loaded; True when one started."""
        while self._next is not None and self._next[1] is not None:
            file, pcm = self._next
            self._next = None
            assert self._plan is not None
            if not pcm:  # unreadable: skip it (a class of bad files stays silent)
                self._failures += 1
                if self._failures > len(self.files):
                    if self._failures == len(self.files) + 1:
                        log.error("music on hold: no file of %s can be played", self.files)
                    return False
                self._request(next(self._plan))
                continue
            self._failures = 0
            self.current = file
            self.played = [*self.played[-9:], file]
            self._pcm = pcm
            self._mv = memoryview(pcm)
            self._pos = 0
            self._request(next(self._plan))  # prefetch while this one plays
            return True
        return False

    def frame(self) -> bytes:
        """The next 20 ms (silence while the next file is still being loaded)."""
        pos = self._pos
        end = pos + FRAME_BYTES
        if end <= len(self._pcm):
            self._pos = end
            return self._mv[pos:end].tobytes()
        out = self._mv[pos:].tobytes()
        self._pos = len(self._pcm)
        while len(out) < FRAME_BYTES and self._take_next():
            take = min(FRAME_BYTES - len(out), len(self._pcm))
            out += self._mv[:take].tobytes()
            self._pos = take
        if len(out) < FRAME_BYTES:
            out += SILENCE[len(out):]
        return out


class MohListener:
    """One session hearing one class; `stop()` ends it."""

    __slots__ = ("codec", "session", "stream")

    def __init__(self, stream: MohStream, session: Any) -> None:
        self.stream = stream
        self.session = session
        self.codec: Codec = session.codec

    @property
    def name(self) -> str:
        """The class heard."""
        return self.stream.klass.name

    @property
    def active(self) -> bool:
        return self.stream is not None and self in self.stream.listeners

    def stop(self) -> None:
        """The music stops for this session (its bridge forwards again)."""
        self.stream.remove(self)

    def refresh(self) -> None:
        """The session's codec may have changed (re-INVITE): hear it in the new one."""
        if self.session.codec is not self.codec and self.active:
            self.stream.regroup(self)

    def _closed(self) -> None:
        self.stream.remove(self)


class _Group:
    """Listeners of one codec: one encoder, one payload a tick."""

    __slots__ = ("codec", "encode", "joining", "listeners", "sends", "wideband")

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.encode = codec.new_encoder()  # one state for the whole group (G.722)
        self.wideband = codec.sample_rate > RATE
        self.listeners: list[MohListener] = []
        self.sends: list[Callable[..., bool]] = []  # bound send_audio, in step with listeners
        self.joining: list[MohListener] = []  # their first packet is marked


class MohStream:
    """One class playing: its source, its listeners by codec, a ticker on the clock."""

    def __init__(self, klass: MohClass, clock: MediaClock, source: MohSource) -> None:
        self.klass = klass
        self.clock = clock
        self.source = source
        self.listeners: dict[MohListener, None] = {}
        self._groups: dict[str, _Group] = {}
        self._group_list: tuple[_Group, ...] = ()
        self._up: Upsampler | None = None
        self.ticks = 0
        self.sent = 0

    def __len__(self) -> int:
        return len(self.listeners)

    def add(self, session: Any) -> MohListener:
        """Start the music for `session` at the stream's current place."""
        if not session.codec.transcodable:
            raise ValueError(f"no music on hold in {session.codec.name}: it is passed "
                             "through only")
        listener = MohListener(self, session)
        self.listeners[listener] = None
        self._join(listener)
        session.generating = True
        session.add_close_callback(listener._closed)
        if len(self.listeners) == 1:
            self.source.start()
            self.clock.add(self)
        return listener

    def _join(self, listener: MohListener) -> None:
        codec = listener.codec = listener.session.codec
        group = self._groups.get(codec.name)
        if group is None:
            group = self._groups[codec.name] = _Group(codec)
            self._group_list = tuple(self._groups.values())
        group.joining.append(listener)

    def _leave(self, listener: MohListener) -> None:
        group = self._groups.get(listener.codec.name)
        if group is None:
            return
        if listener in group.joining:
            group.joining.remove(listener)
        elif listener in group.listeners:
            i = group.listeners.index(listener)
            del group.listeners[i]
            del group.sends[i]
        if not group.listeners and not group.joining:
            del self._groups[listener.codec.name]
            self._group_list = tuple(self._groups.values())

    def regroup(self, listener: MohListener) -> None:
        """Move a listener to its session's new codec."""
        self._leave(listener)
        self._join(listener)

    def remove(self, listener: MohListener) -> None:
        if self.listeners.pop(listener, 0) is not None:
            return
        self._leave(listener)
        session = listener.session
        session.generating = False
        session.remove_close_callback(listener._closed)
        if not self.listeners:
            self.clock.remove(self)  # nobody hears it: the class keeps its place

    def tick(self, n: int) -> None:
        """Clock: one frame, one encode per codec, one send per listener."""
        pcm = self.source.frame()
        wide = None
        self.ticks += 1
        for group in self._group_list:
            if group.wideband:
                if wide is None:
                    up = self._up
                    if up is None:
                        up = self._up = Upsampler()
                    wide = up(pcm)
                payload = group.encode(wide)
            else:
                payload = group.encode(pcm)
            for send in group.sends:
                send(payload)
            self.sent += len(group.sends)
            if group.joining:
                for listener in group.joining:
                    send = listener.session.send_audio
                    send(payload, True)
                    group.listeners.append(listener)
                    group.sends.append(send)
                self.sent += len(group.joining)
                group.joining.clear()


class MusicOnHold:
    """The PBX's music-on-hold classes: which class a call hears, and the streams."""

    def __init__(self, clock: MediaClock, config: MohConfig, *,
                 submit: Submit | None = None, loader: Loader = load_pcm) -> None:
        self.clock = clock
        self.config = config
        self._submit = submit
        self._loader = loader
        self.streams: dict[str, MohStream] = {}

    def reload(self, config: MohConfig) -> None:
        """New listeners hear the new classes; those listening keep theirs."""
        self.config = config
        for name, stream in list(self.streams.items()):
            if config.classes.get(name) != stream.klass:
                del self.streams[name]

    def choose(self, *names: str | None) -> MohClass | None:
        """The first class of `names` that exists, else `default` (Asterisk's
        local_ast_moh_start order is the caller's to give)."""
        for name in names:
            klass = self.config.get(name)
            if klass is not None:
                return klass
            if name:
                log.debug("music on hold: no class %r", name)
        return self.config.get("default")

    def start(self, session: Any, *names: str | None) -> MohListener | None:
        """Play the first existing class of `names` (else default) to `session`."""
        klass = self.choose(*names)
        if klass is None or not klass.files:
            log.warning("music on hold: no class to play (%s)",
                        ", ".join(n for n in names if n) or "default")
            return None
        stream = self.streams.get(klass.name)
        if stream is None:
            submit = self._submit or executor_submit(self.clock.loop)
            source = MohSource(klass.files, klass.sort, submit=submit, loader=self._loader)
            stream = self.streams[klass.name] = MohStream(klass, self.clock, source)
        try:
            return stream.add(session)
        except ValueError as exc:
            log.info("music on hold: %s", exc)
            return None

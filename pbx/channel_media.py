"""What a call leg plays and records beside its bridge: music on hold and MixMonitor.

`ChannelMedia` is one leg's state (the music it hears, its MixMonitors) over
its media session; `MediaFeatures` gives a channel class (SIP legs, Local
channels) the Channel methods on top of it: `start_moh`/`stop_moh`,
`peer_hold` (the bridged party holds: we hear music, Asterisk's default),
`start_mixmonitor`/`stop_mixmonitor` (the clean start/stop API the
automixmon feature uses too) and `bridge_changed`.

Which class plays is Asterisk's choice (res_musiconhold local_ast_moh_start):
the channel's CHANNEL(musicclass) when [general] preferchannelclass=yes (the
default), the class asked for (an application's argument, the holder's
`mohsuggest`), CHANNEL(musicclass) otherwise, the hearer's `mohinterpret`,
then `default`.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbx.channel import AppError
from pbx.media.mixmonitor import MixMonitor, MonitorFiles, volume_factor

if TYPE_CHECKING:
    from pbx.channel import Channel
    from pbx.media.clock import MediaClock
    from pbx.media.moh import MohListener, MusicOnHold

log = logging.getLogger("pbx.channel")

_monitor_ids = itertools.count(1)
# File extension -> the rate of the WAV written (Asterisk: wav is 8 kHz, wav16 16 kHz).
MONITOR_FORMATS = {".wav": 8000, ".wav16": 16000}


@dataclass(slots=True)
class FeatureServices:
    """What music on hold and recordings need from the PBX."""

    moh: MusicOnHold | None
    clock: MediaClock
    monitor_dir: str  # where relative MixMonitor file names go (<storage>/monitor)


@dataclass(slots=True)
class MixMonitorSpec:
    """One MixMonitor: the mixed file and/or each direction alone, and how.

    File names may be relative (to the PBX's monitor folder) and end in
    `.wav` (8 kHz) or `.wav16` (16 kHz). Volumes are Asterisk's -4..4 levels
    (each step doubles or halves); `rx` is what the channel sends us (its
    speech: the `v` option, Asterisk's "heard"/read), `tx` what we send it
    (`V`, "spoken"/write)."""

    path: str | None = None
    rx_path: str | None = None  # r(file)
    tx_path: str | None = None  # t(file)
    rx_volume: int = 0
    tx_volume: int = 0
    append: bool = False  # a
    only_bridged: bool = False  # b
    id_variable: str | None = None  # i(var): the id goes there


class ChannelMedia:
    """One leg's music on hold and MixMonitors, over its media session."""

    def __init__(self, channel: Channel, session: Any, services: FeatureServices | None) -> None:
        self.channel = channel
        self.session = session
        self.services = services
        self.moh: MohListener | None = None
        self.moh_by_hold = False  # the music was started by the bridged party's hold
        self.monitors: dict[str, MixMonitor] = {}
        self.bridged = False

    # --- music on hold ------------------------------------------------------------
    def class_order(self, klass: str | None, interpret: str | None = None, *,
                    force: bool = False) -> list[str | None]:
        """The classes to try, Asterisk's order (see the module docstring)."""
        mine = self.channel.musicclass or None
        moh = self.services.moh if self.services is not None else None
        prefer = moh.config.prefer_channel_class if moh is not None else True
        if force:
            return [klass, mine, interpret]
        if prefer:
            return [mine, klass, interpret]
        return [klass, mine, interpret]

    def start_moh(self, klass: str | None = None, interpret: str | None = None, *,
                  force: bool = False, by_hold: bool = False) -> str | None:
        """Play music to this leg (replacing any); the class playing, or None."""
        moh = self.services.moh if self.services is not None else None
        if moh is None or self.session.closed:
            return None
        self.stop_moh()
        self.moh = moh.start(self.session, *self.class_order(klass, interpret, force=force))
        self.moh_by_hold = by_hold and self.moh is not None
        if self.moh is None:
            return None
        log.info("%s: music on hold, class %s", self.channel.name, self.moh.name)
        return self.moh.name

    def stop_moh(self) -> None:
        if self.moh is not None:
            self.moh.stop()
            log.debug("%s: music on hold stopped", self.channel.name)
        self.moh = None
        self.moh_by_hold = False

    @property
    def moh_class(self) -> str | None:
        """The class this leg hears now (None: no music)."""
        return self.moh.name if self.moh is not None and self.moh.active else None

    def pause_moh(self) -> tuple[str, bool] | None:
        """Stop the music for a prompt; what resume_moh() needs to start it again."""
        name = self.moh_class
        if name is None:
            return None
        state = (name, self.moh_by_hold)
        self.stop_moh()
        return state

    def resume_moh(self, state: tuple[str, bool] | None) -> None:
        if state is not None and not self.session.closed and self.moh is None:
            self.start_moh(state[0], force=True, by_hold=state[1])

    def media_changed(self) -> None:
        """A re-INVITE applied: the music follows a codec change."""
        if self.moh is not None:
            self.moh.refresh()

    # --- MixMonitor -----------------------------------------------------------------
    def resolve(self, name: str | None) -> str | None:
        """A MixMonitor file name made absolute (relative: the monitor folder)."""
        if not name:
            return None
        if not os.path.isabs(name):
            folder = self.services.monitor_dir if self.services is not None else "."
            name = os.path.join(folder, name)
        return os.path.normpath(name)

    def start_mixmonitor(self, spec: MixMonitorSpec) -> MixMonitor:
        """Start recording; AppError (naming the file) when it cannot."""
        if self.services is None:
            raise AppError("MixMonitor: this channel has no media clock")
        files = MonitorFiles(self.resolve(spec.path), self.resolve(spec.rx_path),
                             self.resolve(spec.tx_path))
        paths = [p for p in (files.mix, files.rx, files.tx) if p]
        if not paths:
            raise AppError("MixMonitor needs a file name (or r(file) / t(file))")
        rates = set()
        for path in paths:
            ext = os.path.splitext(path)[1].lower()
            if ext not in MONITOR_FORMATS:
                raise AppError(f"MixMonitor: {path}: format {ext or '(none)'!r} is not "
                               f"supported (use {' or '.join(MONITOR_FORMATS)})")
            rates.add(MONITOR_FORMATS[ext])
        try:
            rx_volume = volume_factor(spec.rx_volume)
            tx_volume = volume_factor(spec.tx_volume)
        except ValueError as exc:
            raise AppError(f"MixMonitor: {exc}") from exc
        monitor_id = f"{self.channel.name}-mixmonitor-{next(_monitor_ids)}"
        monitor = MixMonitor(self.session, self.services.clock, files, rate=max(rates),
                             rx_volume=rx_volume, tx_volume=tx_volume, append=spec.append,
                             active=self.bridged or not spec.only_bridged,
                             only_bridged=spec.only_bridged, monitor_id=monitor_id,
                             on_end=self._monitor_ended)
        try:
            for path in paths:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            monitor.start()
        except OSError as exc:
            raise AppError(f"MixMonitor: cannot write {exc.filename or paths[0]}: "
                           f"{exc.strerror or exc}") from exc
        self.monitors[monitor_id] = monitor
        ch = self.channel
        for path in paths:
            if path not in ch.recordings:
                ch.recordings.append(path)
        if files.mix:
            ch.variables["MIXMONITOR_FILENAME"] = files.mix
        if spec.id_variable:
            ch.variables[spec.id_variable] = monitor_id
        log.info("%s: MixMonitor %s started: %s", ch.name, monitor_id, ", ".join(paths))
        return monitor

    def stop_mixmonitor(self, monitor_id: str | None = None) -> bool:
        """Stop one monitor (by id) or every one; False if none was running."""
        if monitor_id:
            monitor = self.monitors.get(monitor_id)
            if monitor is None:
                return False
            monitor.stop()
            return True
        if not self.monitors:
            return False
        for monitor in list(self.monitors.values()):
            monitor.stop()
        return True

    def _monitor_ended(self, monitor: MixMonitor) -> None:
        self.monitors.pop(monitor.id, None)
        log.info("%s: MixMonitor %s ended (%.1f s)%s", self.channel.name, monitor.id,
                 monitor.seconds, f": {monitor.error}" if monitor.error else "")

    def bridge_changed(self, bridged: bool) -> None:
        self.bridged = bridged
        for monitor in self.monitors.values():
            if monitor.only_bridged:
                monitor.set_active(bridged)


class MediaFeatures:
    """The Channel methods of music on hold and MixMonitor, for a channel class
    with `features` (ChannelMedia), `peer` (its sip.conf/pjsip.conf peer, or
    None) and, for moh_passthrough, `reflect_hold(direction)`."""

    features: ChannelMedia
    peer: Any

    async def start_moh(self, klass: str | None = None, *, force: bool = False) -> str | None:
        self.check_hangup()  # type: ignore[attr-defined]
        return self.features.start_moh(klass, force=force)

    def stop_moh(self) -> None:
        self.features.stop_moh()

    @property
    def moh_suggest(self) -> str | None:
        """The class the other party hears when this one holds (mohsuggest)."""
        return getattr(self.peer, "mohsuggest", None) if self.peer is not None else None

    def peer_hold(self, held: bool, holder: Any) -> None:
        passthrough = self.peer is not None and getattr(self.peer, "moh_passthrough", False)
        if passthrough and hasattr(self, "reflect_hold"):
            self.reflect_hold("sendonly" if held else "sendrecv")
            return
        if held:
            interpret = getattr(self.peer, "mohinterpret", None) if self.peer else None
            self.features.start_moh(getattr(holder, "moh_suggest", None), interpret,
                                    by_hold=True)
        elif self.features.moh_by_hold:
            self.features.stop_moh()

    async def start_mixmonitor(self, spec: MixMonitorSpec) -> str:
        self.check_hangup()  # type: ignore[attr-defined]
        return self.features.start_mixmonitor(spec).id

    def stop_mixmonitor(self, monitor_id: str | None = None) -> bool:
        return self.features.stop_mixmonitor(monitor_id)

    def bridge_changed(self, bridged: bool) -> None:
        self.features.bridge_changed(bridged)
        if not bridged and self.features.moh_by_hold:
            self.features.stop_moh()  # the holder is gone from our bridge

"""MediaSession: the RTP/RTCP endpoint of one call leg.

The session is the asyncio DatagramProtocol of its RTP socket: packets are
handled inside `datagram_received` (no task, future or await per packet) and
routed to the current consumer (recorder, echo, bridge peer or nothing).
Outgoing audio comes from a producer (Player) driven by the shared clock, or
from `forward()` (echo, bridge), and leaves with one `sendto`.

Directions are the *remote's* SDP attribute: remote "sendonly" (it puts us
on hold) or "inactive" -> we stop sending; remote "recvonly" or "inactive" ->
we ignore what arrives.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pbx.media import rtcp
from pbx.media.clock import MediaClock
from pbx.media.codecs import CODECS_BY_PT, PCMU, Codec
from pbx.media.ports import PortAllocator, PortPair
from pbx.media.rtp import HEADER, RtpReceiveStats, RtpStream

log = logging.getLogger(__name__)

_unpack = HEADER.unpack_from
_pack = HEADER.pack
_monotonic = time.monotonic

# Payload types whose codec may change mid-stream (the remote switches among the
# codecs it was offered): only stateless ones, whose decoder needs no history.
SWITCHABLE_PTS = frozenset(pt for pt, c in CODECS_BY_PT.items() if c.stateless and pt != 13)
SEND_DIRECTIONS = frozenset({"sendrecv", "recvonly"})  # remote receives -> we send
RECV_DIRECTIONS = frozenset({"sendrecv", "sendonly"})  # remote sends -> we listen
RTCP_INTERVAL = 5  # seconds between compound reports
# Strict RTP (Asterisk's strictrtp=yes, probation=4): a source is latched on
# (and sent to) only after this many valid, in-sequence RTP packets.
PROBATION = 4
# Sources on probation at once: more are forgotten (bounded cost per attacker).
MAX_CANDIDATES = 8


class Consumer(Protocol):
    """Where incoming audio of a session goes (Recorder, Echo, bridge leg).

    `rtp` gets each audio payload; optional methods `dtmf(digit)` and
    `session_closed()` are called when present.
    """

    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None: ...


@dataclass(slots=True)
class MediaStats:
    """Per-leg media figures, for the CDR and `pbx channels`."""

    packets_sent: int
    octets_sent: int
    packets_received: int
    octets_received: int
    lost: int
    fraction_lost: float  # 0..1, over the whole call
    jitter_ms: float
    remote_lost: int | None = None  # what the remote reported about our stream
    remote_fraction_lost: float | None = None
    remote_jitter_ms: float | None = None
    rtcp_sent: int = 0
    rtcp_received: int = 0
    errors: int = 0  # malformed or unexpected packets dropped


class _RtcpProtocol(asyncio.DatagramProtocol):
    """RTCP socket: reports from the remote, latched like RTP."""

    def __init__(self, session: MediaSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.session._rtcp_received(data, addr)


class MediaSession(asyncio.DatagramProtocol):
    """One call leg's RTP/RTCP endpoint; create with `await MediaSession.open(...)`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pair: PortPair, local_ip: str,
                 clock: MediaClock, rtp_timeout: float = 0.0, cname: str | None = None,
                 probation: int = PROBATION) -> None:
        self.loop = loop
        self.clock = clock
        self.local_ip = local_ip
        self.local_port = pair.rtp_port
        self.rtcp_port = pair.rtcp_port
        self._pair = pair
        self.cname = cname or f"pbx-{os.getpid()}@{local_ip}"
        self.rtp_timeout = rtp_timeout
        self.codec: Codec = PCMU
        self.dtmf_pt = 101  # telephone-event payload type we send (the remote's number)
        self.rx_dtmf_pt = 101  # and the one we receive (ours)
        self.rx_pt = PCMU.payload_type  # audio payload type we receive; stream.pt is what we send
        self._rx_alt_pt = -1  # the remote's own numbers, when they differ from ours
        self._rx_alt_dtmf_pt = -1
        self._rx_pts: frozenset[int] = frozenset((self.rx_pt, 101))  # strict RTP: ours
        self.ptime = 20
        self.direction = "sendrecv"
        self.remote: tuple | None = None  # where RTP goes (latched)
        self.sdp_remote: tuple | None = None  # what the SDP said (the first guess)
        self.rtcp_remote: tuple | None = None
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_timeout: Callable[[], None] | None = None
        self.consumer: Consumer | None = None
        self._consume: Callable[[bytes, int, int, int], None] | None = None
        self._tap: Callable[[bytes], None] | None = None  # in-band DTMF detection
        # A recorder of both directions (MixMonitor): `rx(payload, marker, seq, ts)`
        # gets what arrives, `tx(payload, ts)` what we send (set_monitor).
        self.monitor: Any = None
        # True while music on hold feeds this session: forward() (the bridge, echo)
        # sends nothing then, as Asterisk writes no bridged frames over a generator.
        self.generating = False
        self.stream = RtpStream(PCMU.payload_type)
        self.rx = RtpReceiveStats(8000)
        self.rx_ssrc: int | None = None
        self.closed = False
        self.errors = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.remote_report: rtcp.ReportBlock | None = None
        self._can_send = False
        self._can_recv = True
        self.probation = max(1, probation)
        # Symmetric RTP (nat=comedia, rtp_symmetric=yes): send where the remote's RTP
        # comes from. Off: keep sending to the SDP address; the source is still
        # latched (and only it accepted), just not sent to. (pbx/legs.py sets it.)
        self.symmetric = True
        self._rx_source: tuple | None = None  # the latched source when not symmetric
        self._latched = False
        # Sources on probation: address -> [ssrc, last seq, packets in sequence].
        self._candidates: dict[Any, list[int]] = {}
        self.relatched = 0  # times the source moved after the first latch
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._sendto: Callable[..., Any] | None = None
        self._last_send = 0.0  # monotonic time of our last RTP packet
        self._fwd_src: object = None  # whose packets forward() is mapping
        self._seq_off = 0
        self._ts_off = 0
        self._dtmf_rx: Any = None
        self._dtmf_job: _DtmfJob | None = None
        self._last_rx_count = 0
        self._silent_secs = 0
        self._slow_phase = random.randrange(RTCP_INTERVAL)
        self._last_sr_ntp = 0  # middle 32 bits of the remote's last SR
        self._last_sr_time = 0.0
        self._close_callbacks: list[Callable[[], None]] = []
        self.srtp: Any = None  # pbx.media.srtp.SrtpContext while the leg is RTP/SAVP
        self._sock_sendto: Callable[..., Any] | None = None
        self._rx_prev_received = 0  # totals of earlier sources (SSRC changes)
        self._rx_prev_bytes = 0
        self._rx_prev_lost = 0

    # --- life cycle ---------------------------------------------------------
    @classmethod
    async def open(cls, loop: asyncio.AbstractEventLoop, allocator: PortAllocator,
                   local_ip: str, clock: MediaClock, rtp_timeout: float = 0.0,
                   cname: str | None = None, probation: int = PROBATION) -> MediaSession:
        """Allocate a port pair on `local_ip` and start listening."""
        pair = allocator.allocate(local_ip)
        self = cls(loop, pair, local_ip, clock, rtp_timeout, cname, probation)
        try:
            tr, _ = await loop.create_datagram_endpoint(lambda: self, sock=pair.rtp_sock)
            rtr, _ = await loop.create_datagram_endpoint(lambda: _RtcpProtocol(self),
                                                         sock=pair.rtcp_sock)
        except BaseException:
            pair.release()
            raise
        self._transport = tr  # type: ignore[assignment]
        self._rtcp_transport = rtr  # type: ignore[assignment]
        for t in (tr, rtr):
            # The default asyncio transport reads into a fresh 256 KB buffer per
            # datagram; glibc then grows/trims the heap around it (two syscalls
            # a packet). RTP fits in 2 KB. uvloop has its own buffer (no attribute).
            if hasattr(t, "max_size"):
                t.max_size = 2048  # type: ignore[attr-defined]
        # Send with the socket itself: it skips the transport's layers (about
        # 1 us a packet with uvloop); when the kernel buffer is full the
        # packet goes through the transport, which queues it (_send_slow).
        self._sendto = self._sock_sendto = pair.rtp_sock.sendto
        clock.add_slow(self)
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """asyncio: the RTP transport is ready."""
        self._transport = transport  # type: ignore[assignment]

    def error_received(self, exc: Exception) -> None:
        """asyncio: ICMP errors (port unreachable) are counted, not fatal."""
        self.errors += 1

    def close(self) -> None:
        """Stop everything, send RTCP BYE, release the ports."""
        if self.closed:
            return
        self.closed = True
        self.clock.remove_slow(self)
        if self._dtmf_job is not None:
            self.clock.remove(self._dtmf_job)
            self._dtmf_job = None
        consumer = self.consumer
        self.consumer = None
        self._consume = None
        if consumer is not None and hasattr(consumer, "session_closed"):
            try:
                consumer.session_closed()
            except Exception:
                log.exception("consumer failed on close")
        for cb in list(self._close_callbacks):
            try:
                cb()
            except Exception:
                log.exception("close callback failed")
        if self.stream.packets_sent or self.rx.received:
            self._send_rtcp(bye=True)
        owned = False
        for tr in (self._transport, self._rtcp_transport):
            if tr is not None:
                tr.close()  # closes its socket (soon): we must not close it too
                owned = True
        self._pair.release(close=not owned)
        # The transports point back at us until the loop runs their connection_lost.
        self._transport = self._rtcp_transport = None

    def add_close_callback(self, cb: Callable[[], None]) -> None:
        """Call `cb()` when the session closes (players and recorders end)."""
        self._close_callbacks.append(cb)

    def remove_close_callback(self, cb: Callable[[], None]) -> None:
        """Undo add_close_callback."""
        if cb in self._close_callbacks:
            self._close_callbacks.remove(cb)

    # --- negotiation ----------------------------------------------------------
    def set_remote(self, addr: tuple | None, codec: Codec | None = None, dtmf_pt: int | None = 101,
                   ptime: int = 20, direction: str = "sendrecv",
                   rtcp_addr: tuple | None = None, *, pt: int | None = None,
                   rx_pt: int | None = None, rx_dtmf_pt: int | None = None) -> None:
        """Apply the negotiated SDP: remote address (initial guess), codec, DTMF
        payload type (None = no RFC 4733), ptime and the remote's direction.

        Payload types: ``pt``/``dtmf_pt`` are what we send (the remote's numbers,
        default the codec's static one), ``rx_pt``/``rx_dtmf_pt`` what we receive
        (ours; default the same). A new address (re-INVITE) resets strict-RTP
        latching: we send to it until a source passes probation."""
        if codec is not None and codec is not self.codec:
            self.codec = codec
            self.rx = RtpReceiveStats(codec.clock_rate)
            self.rx_ssrc = None
        if codec is not None:
            self.stream.pt = codec.payload_type if pt is None else pt
            self.rx_pt = self.stream.pt if rx_pt is None else rx_pt
        self.dtmf_pt = -1 if dtmf_pt is None else dtmf_pt
        self.rx_dtmf_pt = self.dtmf_pt if rx_dtmf_pt is None else rx_dtmf_pt
        # Many phones send with the numbers of their own description, not ours (as
        # RFC 3264 wants): take those too, as Asterisk does, unless they are taken.
        ours = {self.rx_pt, self.rx_dtmf_pt}
        self._rx_alt_pt = self.stream.pt if self.stream.pt not in ours else -1
        self._rx_alt_dtmf_pt = self.dtmf_pt if self.dtmf_pt not in ours else -1
        # What strict RTP takes as this call's payload types (any number we may receive).
        self._rx_pts = frozenset((self.rx_pt, self._rx_alt_pt, self.rx_dtmf_pt,
                                  self._rx_alt_dtmf_pt))
        self.ptime = ptime
        self.direction = direction
        self._can_send = direction in SEND_DIRECTIONS and addr is not None
        self._can_recv = direction in RECV_DIRECTIONS
        if addr is not None and (addr[0], int(addr[1])) != self.sdp_remote:
            # Sends use the address as is, per packet: it must be numeric
            # (SDP c= lines are), or every sendto would resolve a name.
            ipaddress.ip_address(addr[0])
            # Only a changed SDP address resets latching: a re-INVITE that
            # repeats a NATed phone's private address keeps the learned one.
            self.sdp_remote = self.remote = (addr[0], int(addr[1]))
            self._latched = False
            self._candidates.clear()
            self._rx_source = None
            self.rtcp_remote = rtcp_addr or (addr[0], int(addr[1]) + 1)
        if not self._can_send:
            self.stream.mark = True  # resuming after hold starts a talkspurt

    def set_srtp(self, suite: str | None, tx_key: bytes = b"", rx_key: bytes = b"") -> None:
        """Use SRTP with these SDES keys (suite None: plain RTP again).

        Nothing changes when the keys are the ones in use (a re-INVITE that
        repeats them): the contexts keep their rollover counters. A plain leg
        pays nothing per packet: the SRTP paths are swapped in as instance
        attributes, not tested for on every packet."""
        if suite is None:
            self.srtp = None
            self.__dict__.pop("datagram_received", None)
            self._sendto = self._sock_sendto
            return
        current = self.srtp
        if current is not None and current.suite == suite and current.keys == (tx_key, rx_key):
            return
        from pbx.media.srtp import SrtpContext

        self.srtp = SrtpContext(suite, tx_key, rx_key)
        self.datagram_received = self._srtp_received  # type: ignore[method-assign]
        self._sendto = self._srtp_sendto
        self._candidates.clear()  # probation restarts with authenticated packets only

    def _srtp_received(self, data: bytes, addr: Any) -> None:
        """datagram_received of an SRTP leg: authenticate and decrypt, then as RTP.
        A packet failing authentication (garbage, a forgery, a replay) is
        dropped before anything else looks at it, so it never counts for strict RTP."""
        plain = self.srtp.unprotect(data)
        if plain is None:
            self.errors += 1
            return
        MediaSession.datagram_received(self, plain, addr)

    def _srtp_sendto(self, packet: bytes, addr: Any) -> None:
        """Every RTP send of an SRTP leg goes through here (never raises OSError:
        a full buffer queues the *protected* packet, never the plain one)."""
        data = self.srtp.protect(packet)
        try:
            self._sock_sendto(data, addr)  # type: ignore[misc]
        except OSError as exc:
            self._send_slow(data, exc)

    @property
    def samples_per_frame(self) -> int:
        """RTP timestamp units in one ptime frame of the current codec (G.711 and
        G.722 at 64 kbit/s: also the payload octets of the frame)."""
        return self.codec.clock_rate * self.ptime // 1000

    @property
    def can_send(self) -> bool:
        """False while the remote holds us (sendonly/inactive) or is unknown."""
        return self._can_send and not self.closed

    def set_consumer(self, consumer: Consumer | None) -> Consumer | None:
        """Route incoming audio to `consumer` (None: drop it); returns the previous one."""
        prev = self.consumer
        self.consumer = consumer
        self._rebind()
        return prev

    def set_tap(self, tap: Callable[[bytes], None] | None) -> None:
        """Also give every audio payload to `tap` (e.g. an in-band DTMF detector),
        whoever consumes it; None removes it."""
        self._tap = tap
        self._rebind()

    def set_monitor(self, monitor: Any) -> None:
        """Copy both directions' audio to `monitor` (None: stop); see `monitor`."""
        self.monitor = monitor
        self._rebind()

    def _rebind(self) -> None:
        # The tap and the monitor are folded into the one callable the receive path
        # calls, so a session without them pays nothing for them per packet.
        consumer = self.consumer
        rtp = consumer.rtp if consumer is not None else None
        monitor = self.monitor
        monitor_rx = monitor.rx if monitor is not None and not self.closed else None
        tap = self._tap
        if monitor_rx is None and tap is None:
            self._consume = rtp
            return

        def both(payload: bytes, marker: int, seq: int, ts: int) -> None:
            if tap is not None:
                tap(payload)
            if rtp is not None:
                rtp(payload, marker, seq, ts)
            if monitor_rx is not None:
                monitor_rx(payload, marker, seq, ts)

        self._consume = both

    # --- receiving ------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: Any) -> None:
        """asyncio: one RTP packet (the hot path)."""
        # The latched source costs one comparison; everyone else goes to probation.
        if (addr != self.remote or not self._latched) and not self._admit(data, addr):
            return
        try:
            b0, b1, seq, ts, ssrc = _unpack(data)
        except struct.error:
            self.errors += 1
            return
        if b0 & 0xC0 != 0x80:
            self.errors += 1
            return
        if b0 & 0x3F:
            # Padding, extension or CSRCs: the slow, general path.
            payload = _payload_slow(data, b0)
            if payload is None:
                self.errors += 1
                return
        else:
            payload = data[12:]
        if ssrc != self.rx_ssrc:
            self._new_source(ssrc)
        self.rx.update(seq, ts, _monotonic(), len(payload))
        if not self._can_recv:
            return  # remote said recvonly/inactive: ignore what it sends
        pt = b1 & 0x7F
        if pt == self.rx_pt or pt == self._rx_alt_pt:
            c = self._consume
            if c is not None:
                c(payload, b1 & 0x80, seq, ts)
        elif pt == self.rx_dtmf_pt or pt == self._rx_alt_dtmf_pt:
            self._dtmf_packet(payload, b1 & 0x80, seq, ts)
        elif pt in SWITCHABLE_PTS:
            # The remote switched to another codec we know (e.g. offered both):
            # follow it, so the consumer gets what the payload really is.
            c = self._consume
            if c is not None and hasattr(self.consumer, "rtp_other"):
                self.consumer.rtp_other(payload, pt, b1 & 0x80, seq, ts)  # type: ignore[union-attr]
        # Comfort noise (13) and unknown payload types are dropped.

    def _admit(self, data: bytes, addr: Any) -> bool:
        """Strict RTP for a packet not from the latched source: True if it may be used.

        Before any latch, packets from the SDP address are used (the remote
        said to expect them there), but nothing is latched until a source
        (that address or another, e.g. behind NAT) has sent `probation` valid
        RTP packets with one SSRC and consecutive sequence numbers; then we
        latch on it and send there. Once latched, another source must pass the
        same probation to take over. Garbage counts for no source, and a lone
        packet from anywhere changes nothing."""
        if addr == self._rx_source and self._latched:
            return True  # not symmetric: the latched source is not where we send
        if not self._valid(data):
            self.errors += 1
            return False
        ssrc = int.from_bytes(data[8:12], "big")
        seq = int.from_bytes(data[2:4], "big")
        cand = self._candidates.get(addr)
        if cand is not None and cand[0] == ssrc and seq == (cand[1] + 1) & 0xFFFF:
            cand[1] = seq
            cand[2] += 1
        elif cand is not None and cand[0] == ssrc and (cand[1] - seq) & 0xFFFF < 0x8000:
            # A duplicate or reordered packet: no progress, no reset.
            pass
        else:
            if cand is None and len(self._candidates) >= MAX_CANDIDATES:
                self._candidates.clear()
            cand = self._candidates[addr] = [ssrc, seq, 1]
        if cand[2] >= self.probation:
            self._latch(addr)
            return True
        if not self._latched and addr == self.sdp_remote:
            return True
        self.errors += 1
        return False

    def _valid(self, data: bytes) -> bool:
        """A plausible RTP packet of this call: version 2, a whole header, and a
        payload type the call uses (audio, telephone-event, comfort noise)."""
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            return False
        pt = data[1] & 0x7F
        if pt not in self._rx_pts and pt not in CODECS_BY_PT:
            return False
        return not (data[0] & 0x3F and _payload_slow(data, data[0]) is None)

    def _latch(self, addr: Any) -> None:
        if self._latched and addr != self.remote:
            self.relatched += 1
            log.info("RTP on port %d moved from %s to %s after %d packets in sequence",
                     self.local_port, self.remote, addr, self.probation)
        self._latched = True
        self._candidates.clear()
        self._set_peer(addr)

    def _set_peer(self, addr: Any) -> None:
        if not self.symmetric:
            self._rx_source = addr
            return
        if addr != self.remote:
            log.debug("RTP on port %d latched to %s", self.local_port, addr)
            was = self.remote
            self.remote = addr
            if self.rtcp_remote is None or (was and self.rtcp_remote[0] != addr[0]):
                self.rtcp_remote = (addr[0], addr[1] + 1)
        if self.direction in SEND_DIRECTIONS:
            self._can_send = True

    def _new_source(self, ssrc: int) -> None:
        if self.rx_ssrc is not None:
            log.debug("RTP source on port %d changed SSRC", self.local_port)
            prev = self.rx
            self.rx = RtpReceiveStats(self.codec.clock_rate)
            # Keep totals across a source change (re-INVITE, transfer) for the CDR.
            self._rx_prev_received += prev.received
            self._rx_prev_bytes += prev.bytes
            self._rx_prev_lost += max(0, prev.lost)
        self.rx_ssrc = ssrc
        self._dtmf_rx = None

    def _dtmf_packet(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        consumer = self.consumer
        fwd = getattr(consumer, "dtmf_packet", None) if consumer is not None else None
        if fwd is not None:
            fwd(payload, marker, seq, ts)  # a bridge relays the event packets as they are
        rx = self._dtmf_rx
        if rx is None:
            rx = self._dtmf_rx = _new_dtmf_receiver()
        digits = rx.feed(payload, ts, bool(marker))
        if digits:
            # Two digits at once when an event's end packets were lost (dtmf.py).
            for digit in digits:
                self.digit_received(digit)

    def digit_received(self, digit: str) -> None:
        """Deliver a DTMF digit that came as RFC 4733 packets."""
        self._deliver_digit(digit, "dtmf")

    def digit_detected(self, digit: str) -> None:
        """Deliver a DTMF digit that came otherwise (SIP INFO, in-band tones): a
        bridge must send it on itself, having relayed no packets of it."""
        self._deliver_digit(digit, "digit_other")

    def _deliver_digit(self, digit: str, method: str) -> None:
        consumer = self.consumer
        if consumer is not None:
            cb = getattr(consumer, method, None) or getattr(consumer, "dtmf", None)
            if cb is not None:
                try:
                    cb(digit)
                except Exception:
                    log.exception("consumer failed on DTMF")
        if self.on_dtmf is not None:
            self.on_dtmf(digit)

    # --- sending --------------------------------------------------------------
    def send_audio(self, payload: bytes | memoryview, marker: bool = False,
                   samples: int = 0) -> bool:
        """Send one frame of our own audio (player); False if not sent (hold, DTMF).

        `samples` defaults to the payload length (G.711: one octet per sample).
        A marked packet starts a talkspurt: its timestamp jumps by the real
        time since our last packet, as if the pause had been sent as silence.
        """
        if not self._can_send or self._dtmf_job is not None or self.closed:
            return False
        st = self.stream
        n = len(payload)
        now = _monotonic()
        if marker or st.mark:
            self._resync_ts(now)
            marker = True
            st.mark = False
        self._fwd_src = None
        pkt = _pack(0x80, (0x80 if marker else 0) | st.pt, st.seq, st.ts, st.ssrc) + payload
        try:
            self._sendto(pkt, self.remote)  # type: ignore[misc]
        except OSError as exc:
            self._send_slow(pkt, exc)
        monitor = self.monitor
        if monitor is not None:
            monitor.tx(payload, st.ts)
        st.seq = (st.seq + 1) & 0xFFFF
        st.last_ts = st.ts
        st.ts = (st.ts + (samples or n)) & 0xFFFFFFFF
        st.packets_sent += 1
        st.bytes_sent += n
        self._last_send = now
        return True

    def _send_slow(self, pkt: bytes, exc: OSError) -> None:
        """The direct send failed: a full buffer is queued by the transport;
        other errors (no route, ICMP reported) are counted."""
        tr = self._transport
        if (isinstance(exc, (BlockingIOError, InterruptedError)) and tr is not None
                and not tr.is_closing()):
            tr.sendto(pkt, self.remote)
            return
        self.errors += 1

    def _resync_ts(self, now: float) -> None:
        """Advance the outgoing timestamp by the silence since our last packet."""
        st = self.stream
        if self._last_send:
            gap = now - self._last_send
            rate = self.codec.clock_rate
            frame = self.samples_per_frame
            # Keep frame alignment: whole frames of silence, at least one frame.
            frames = max(1, round(gap * rate / frame))
            st.ts = (st.last_ts + frames * frame) & 0xFFFFFFFF

    def forward(self, payload: bytes, marker: int, seq: int, ts: int, src: object,
                pt: int = -1) -> bool:
        """Send a packet that came from elsewhere (echo, bridge) under our own
        SSRC. Its sequence number and timestamp are mapped by fixed offsets so
        the far end still sees the source's loss, reordering and timing; the
        offsets are recomputed (with the marker bit) when the source changes."""
        if not self._can_send or self.closed or self.generating:
            return False
        st = self.stream
        if src is not self._fwd_src:
            self._fwd_src = src
            self._resync_ts(_monotonic())
            self._seq_off = st.seq - seq
            self._ts_off = st.ts - ts
            marker = 0x80
        oseq = (seq + self._seq_off) & 0xFFFF
        ots = (ts + self._ts_off) & 0xFFFFFFFF
        pkt = _pack(0x80, (marker and 0x80) | (st.pt if pt < 0 else pt), oseq, ots,
                    st.ssrc) + payload
        try:
            self._sendto(pkt, self.remote)  # type: ignore[misc]
        except OSError as exc:
            self._send_slow(pkt, exc)
        monitor = self.monitor
        if monitor is not None and pt < 0:
            monitor.tx(payload, ots)
        if (oseq - st.seq) & 0xFFFF < 0x8000:  # newest so far (not a reordered one)
            st.seq = (oseq + 1) & 0xFFFF
            st.last_ts = ots
            st.ts = (ots + len(payload)) & 0xFFFFFFFF
            self._last_send = _monotonic()
        st.packets_sent += 1
        st.bytes_sent += len(payload)
        return True

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> bool:
        """Send a digit as RFC 4733 events paced by the clock (audio is paused
        meanwhile); False if the remote took no telephone-event or holds us."""
        if self.dtmf_pt < 0 or not self.can_send:
            return False
        job = _DtmfJob(self, digit, duration_ms)
        if self._dtmf_job is not None:
            self._dtmf_job.queue.append(job)
            return True
        self._dtmf_job = job
        self.clock.add(job)
        return True

    # --- RTCP, timeout (once a second from the clock) ---------------------------
    def tick(self, n: int) -> None:
        """Slow tick: RTP timeout and periodic RTCP."""
        if self.closed:
            return
        received = self.rx.received
        # A remote that said it will not send (inactive/recvonly, e.g. on hold)
        # is not timed out (Asterisk has a separate rtpholdtimeout for that).
        if received != self._last_rx_count or self.direction not in RECV_DIRECTIONS:
            self._last_rx_count = received
            self._silent_secs = 0
        else:
            self._silent_secs += 1
            # Fires once per silence (the silence counter keeps growing).
            if self.rtp_timeout and self._silent_secs == max(1, math.ceil(self.rtp_timeout)):
                log.info("RTP timeout on port %d", self.local_port)
                if self.on_timeout is not None:
                    self.on_timeout()
        self._slow_phase += 1
        if self._slow_phase >= RTCP_INTERVAL:
            self._slow_phase = 0
            if self.stream.packets_sent or self.rx.received:
                self._send_rtcp()

    def _report_block(self) -> rtcp.ReportBlock | None:
        rx = self.rx
        if self.rx_ssrc is None:
            return None
        dlsr = 0
        if self._last_sr_time:
            dlsr = int((_monotonic() - self._last_sr_time) * 65536)
        return rtcp.ReportBlock(self.rx_ssrc, rx.fraction_lost(), rx.lost, rx.extended_max,
                                int(rx.jitter), self._last_sr_ntp, dlsr)

    def _send_rtcp(self, bye: bool = False) -> None:
        tr = self._rtcp_transport
        if tr is None or self.rtcp_remote is None or tr.is_closing():
            return
        st = self.stream
        block = self._report_block()
        sender = None
        if st.packets_sent:
            sender = rtcp.SenderInfo(rtcp.ntp_now(), st.last_ts, st.packets_sent, st.bytes_sent)
        data = rtcp.build_compound(st.ssrc, self.cname, sender,
                                   [block] if block is not None else [], bye)
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data)
        try:
            tr.sendto(data, self.rtcp_remote)
            self.rtcp_sent += 1
        except OSError:
            self.errors += 1

    def _rtcp_received(self, data: bytes, addr: Any) -> None:
        if self.srtp is not None:
            plain = self.srtp.unprotect_rtcp(data)
            if plain is None:
                self.errors += 1
                return
            data = plain
        try:
            rep = rtcp.parse_compound(data)
        except rtcp.RtcpError:
            self.errors += 1
            return
        remote = self.remote
        if remote is not None and addr[0] != remote[0]:
            # Strict like RTP: reports from another host than the media's are
            # not ours to answer (nor to send our reports to).
            self.errors += 1
            return
        self.rtcp_received += 1
        self.rtcp_remote = addr  # symmetric RTCP
        if rep.sender is not None:
            self._last_sr_ntp = (rep.sender.ntp >> 16) & 0xFFFFFFFF
            self._last_sr_time = _monotonic()
        for b in rep.blocks:
            if b.ssrc == self.stream.ssrc:
                self.remote_report = b

    def stats(self) -> MediaStats:
        """Counters so far (cheap; safe after close)."""
        rx = self.rx
        received = rx.received + self._rx_prev_received
        lost = max(0, rx.lost) + self._rx_prev_lost
        expected = received + lost
        rr = self.remote_report
        rate = self.codec.clock_rate
        return MediaStats(
            packets_sent=self.stream.packets_sent,
            octets_sent=self.stream.bytes_sent,
            packets_received=received,
            octets_received=rx.bytes + self._rx_prev_bytes,
            lost=lost,
            fraction_lost=lost / expected if expected else 0.0,
            jitter_ms=rx.jitter_ms,
            remote_lost=rr.cumulative_lost if rr else None,
            remote_fraction_lost=rr.fraction_lost / 256 if rr else None,
            remote_jitter_ms=rr.jitter * 1000 / rate if rr else None,
            rtcp_sent=self.rtcp_sent,
            rtcp_received=self.rtcp_received,
            errors=self.errors,
        )


def _payload_slow(data: bytes, b0: int) -> bytes | None:
    """Payload of a packet with CSRCs, extension or padding (None if malformed)."""
    from pbx.media.rtp import RtpError, header_length, payload_end

    try:
        hlen = header_length(data)
        end = payload_end(data)
    except RtpError:
        return None
    if end < hlen:
        return None
    return data[hlen:end]


def _new_dtmf_receiver() -> Any:
    from pbx.media.dtmf import DtmfReceiver

    return DtmfReceiver()


class _DtmfJob:
    """Sends one digit's RFC 4733 packets, one per tick, then the next queued."""

    def __init__(self, session: MediaSession, digit: str, duration_ms: int) -> None:
        self.session = session
        self.digit = digit
        self.duration_ms = duration_ms
        self.queue: list[_DtmfJob] = []
        self._packets: list[tuple[bytes, bool, int]] | None = None
        self._i = 0
        self._ts = 0

    def tick(self, n: int) -> None:
        s = self.session
        if s.closed:
            s.clock.remove(self)
            return
        if self._packets is None:
            self._packets = _dtmf_packets(self.digit, self.duration_ms, s.codec.clock_rate,
                                          s.ptime)
            st = s.stream
            s._resync_ts(_monotonic())
            self._ts = st.ts
            s._fwd_src = None
        payload, marker, _ = self._packets[self._i]
        self._i += 1
        st = s.stream
        if s._can_send:
            pkt = _pack(0x80, (0x80 if marker else 0) | s.dtmf_pt, st.seq, self._ts,
                        st.ssrc) + payload
            try:
                s._sendto(pkt, s.remote)  # type: ignore[misc]
            except OSError as exc:
                s._send_slow(pkt, exc)
            st.seq = (st.seq + 1) & 0xFFFF
            st.packets_sent += 1
            st.bytes_sent += len(payload)
        if self._i >= len(self._packets):
            # The event covered its duration: audio resumes after it.
            st.last_ts = self._ts
            st.ts = (self._ts + self._packets[-1][2]) & 0xFFFFFFFF
            s._last_send = _monotonic()
            st.mark = True
            s.clock.remove(self)
            s._dtmf_job = None
            if self.queue:
                nxt = self.queue.pop(0)
                nxt.queue = self.queue
                s._dtmf_job = nxt
                s.clock.add(nxt)


def _dtmf_packets(digit: str, duration_ms: int, clock_rate: int,
                  ptime: int) -> list[tuple[bytes, bool, int]]:
    """(payload, marker, duration-in-samples) for each packet of one event."""
    from pbx.media.dtmf import DtmfSender

    sender = DtmfSender(clock_rate=clock_rate, ptime=ptime)
    return [(p.payload, p.marker, p.duration) for p in sender.packets(digit, duration_ms)]

"""The ban list: per-source counters in sliding windows, and bans with an expiry.

Sans-I/O: every call takes ``now`` (monotonic seconds); nothing here reads a
clock, logs or touches a socket. The guard (pbx/security/guard.py) asks
:meth:`BanList.admit` for every message before parsing it and reports failed
authentications with :meth:`BanList.auth_failed`; a ban is announced through
``on_event`` so the caller can log it and close connections.

Two counters per source:

* messages in a sliding window of ``rate_window`` seconds, estimated from two
  fixed buckets (the "sliding window counter": O(1) memory and time per
  message, exact to within the previous bucket's share). More than
  ``rate * rate_window`` messages -> ban.
* failed authentications, kept as exact timestamps (they are rare): more than
  ``auth_failures - 1`` within ``auth_window`` seconds, i.e. the N-th -> ban.

IPv6 sources are counted and banned per /64: one host usually owns a whole /64,
so banning one address of it would stop nothing.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pbx.security.acl import Acl

__all__ = ["Ban", "BanEvent", "BanList", "BanPolicy", "source_key"]


@dataclass(frozen=True, slots=True)
class BanPolicy:
    """Thresholds (pbx.yaml `security.ban`); the reasons are in README "Securing your PBX"."""

    enabled: bool = True
    time: float = 600.0  # seconds a banned source is ignored (fail2ban's default bantime)
    auth_failures: int = 10  # the N-th failed authentication within auth_window bans
    auth_window: float = 60.0
    rate: float = 50.0  # messages per second from one source, averaged over rate_window
    rate_window: float = 5.0
    max_tracked: int = 100_000  # sources with live counters (memory bound under spoofing)


@dataclass(slots=True)
class Ban:
    """One banned source (an IPv4 address or an IPv6 /64)."""

    source: str
    reason: str  # "auth" | "rate" | "manual"
    since: float
    until: float
    count: int  # what was over the limit (failures or messages in the window)
    dropped: int = 0  # messages ignored since


@dataclass(frozen=True, slots=True)
class BanEvent:
    """A ban starting or ending; the guard logs it and closes connections."""

    kind: str  # "banned" | "lifted" | "expired"
    ban: Ban


@lru_cache(maxsize=8192)
def source_key(host: str) -> str:
    """The unit counted and banned: the IPv4 address, or the IPv6 /64 (`2001:db8::/64`)."""
    if ":" not in host:
        return host
    try:
        addr = ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return host
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))


class _Counter:
    """Messages of one source: two fixed buckets of the sliding window."""

    __slots__ = ("current", "previous", "start", "trusted")

    def __init__(self, start: float, trusted: bool) -> None:
        self.start = start
        self.previous = 0
        self.current = 0
        self.trusted = trusted


class BanList:
    """Decides, per message and per failed authentication, who is dropped."""

    def __init__(self, policy: BanPolicy | None = None, trusted: tuple[Acl, ...] = (),
                 on_event: Callable[[BanEvent], None] | None = None) -> None:
        self.policy = policy or BanPolicy()
        self.trusted = trusted  # any list explicitly permitting a source trusts it
        self.on_event = on_event
        self._bans: dict[str, Ban] = {}
        self._counters: dict[str, _Counter] = {}
        self._failures: dict[str, deque[float]] = {}
        self._limit = self.policy.rate * self.policy.rate_window
        self._next_prune = 0.0

    def configure(self, policy: BanPolicy, trusted: tuple[Acl, ...]) -> None:
        """A reload: new thresholds and trusted networks; bans in force stay."""
        self.policy = policy
        self.trusted = trusted
        self._limit = policy.rate * policy.rate_window
        self._counters.clear()  # cached trust flags may be stale
        for key in [k for k in self._bans if self.is_trusted(k)]:
            self._end(key, "lifted")

    # --- queries -----------------------------------------------------------------
    def is_trusted(self, host: str) -> bool:
        """Never banned: some trusted list explicitly permits the address."""
        return any(acl.permits_explicitly(host) for acl in self.trusted)

    def is_banned(self, host: str, now: float) -> bool:
        ban = self._bans.get(source_key(host))
        return ban is not None and now < ban.until

    def bans(self, now: float) -> list[Ban]:
        """Bans in force, oldest first (expired ones are dropped here)."""
        self.expire(now)
        return sorted(self._bans.values(), key=lambda b: b.since)

    # --- per message (hot path) --------------------------------------------------
    def admit(self, host: str, now: float) -> bool:
        """Count one message from ``host``; False: drop it silently (banned)."""
        key = source_key(host)
        ban = self._bans.get(key)
        if ban is not None:
            if now < ban.until:
                ban.dropped += 1
                return False
            self._end(key, "expired")
        counter = self._counters.get(key)
        if counter is None:
            if len(self._counters) >= self.policy.max_tracked:
                self._prune(now, force=True)
            counter = self._counters[key] = _Counter(now, self.is_trusted(host))
        if not self.policy.enabled:
            return True
        # IPv4: the flag cached on the counter; an IPv6 /64 may mix trusted hosts.
        if counter.trusted if ":" not in host else self.is_trusted(host):
            return True
        window = self.policy.rate_window
        elapsed = now - counter.start
        if elapsed >= window:
            buckets = int(elapsed // window)
            counter.previous = counter.current if buckets == 1 else 0
            counter.current = 0
            counter.start += buckets * window
            elapsed -= buckets * window
        counter.current += 1
        estimate = counter.previous * (1.0 - elapsed / window) + counter.current
        if estimate > self._limit:
            self._ban(key, "rate", now, int(estimate))
            return False
        if now >= self._next_prune:
            self._prune(now)
        return True

    # --- events --------------------------------------------------------------------
    def auth_failed(self, host: str, now: float) -> bool:
        """Count a failed authentication; True if it banned the source."""
        policy = self.policy
        if not policy.enabled or self.is_trusted(host):
            return False
        key = source_key(host)
        if key in self._bans:
            return False
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=policy.auth_failures)
        times.append(now)
        if len(times) >= policy.auth_failures and now - times[0] <= policy.auth_window:
            self._ban(key, "auth", now, len(times))
            return True
        return False

    def ban(self, host: str, now: float, duration: float | None = None) -> Ban:
        """Ban by hand (an operator, a test)."""
        key = source_key(host)
        return self._ban(key, "manual", now, 0, duration)

    def lift(self, host: str) -> bool:
        """Lift the ban on ``host`` (address or /64 as listed); True if there was one."""
        key = host if host in self._bans else source_key(host)
        if key not in self._bans:
            return False
        self._end(key, "lifted")
        return True

    def lift_all(self) -> int:
        keys = list(self._bans)
        for key in keys:
            self._end(key, "lifted")
        return len(keys)

    def expire(self, now: float) -> None:
        for key in [k for k, b in self._bans.items() if now >= b.until]:
            self._end(key, "expired")

    # --- inside ----------------------------------------------------------------------
    def _ban(self, key: str, reason: str, now: float, count: int,
             duration: float | None = None) -> Ban:
        ban = Ban(key, reason, now, now + (self.policy.time if duration is None else duration),
                  count)
        self._bans[key] = ban
        self._counters.pop(key, None)
        self._failures.pop(key, None)
        if self.on_event is not None:
            self.on_event(BanEvent("banned", ban))
        return ban

    def _end(self, key: str, kind: str) -> None:
        ban = self._bans.pop(key)
        if self.on_event is not None:
            self.on_event(BanEvent(kind, ban))

    def _prune(self, now: float, force: bool = False) -> None:
        """Forget counters idle for two windows and failures older than their window."""
        policy = self.policy
        self._next_prune = now + max(policy.rate_window, 1.0)
        horizon = now - 2 * policy.rate_window
        stale = [k for k, c in self._counters.items() if c.start < horizon]
        for key in stale:
            del self._counters[key]
        if force and len(self._counters) >= policy.max_tracked:
            # Too many distinct sources in one window (a spoofed flood): start afresh
            # rather than grow without bound. Bans are kept.
            self._counters.clear()
        old = now - policy.auth_window
        for key in [k for k, t in self._failures.items() if not t or t[-1] < old]:
            del self._failures[key]
        self.expire(now)

"""Location service: where each registered peer can be reached.

Memory is the source of truth while running (the registrar's hot path never
waits on disk); every change is queued to the store, which survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pbx.store import Store, StoredBinding


@dataclass(slots=True)
class Binding:
    """One registered contact of one address of record (peer name)."""

    aor: str
    contact: str  # the Contact URI as the phone registered it
    expires_at: float  # wall-clock time
    call_id: str = ""
    cseq: int = 0
    q: str | None = None
    params: str = ""  # other contact params (+sip.instance, reg-id, ...), kept verbatim
    transport: str = "udp"
    source_host: str = ""  # where the REGISTER came from: we send requests there (NAT)
    source_port: int = 0
    user_agent: str = ""
    # qualify results
    reachable: bool | None = None
    rtt_ms: float | None = None
    last_qualify: float = 0.0
    registered_at: float = field(default=0.0)

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))

    @property
    def source(self) -> tuple[str, int]:
        return (self.source_host, self.source_port)

    def to_stored(self) -> StoredBinding:
        # Every field holds an immutable value: a plain dict, not dataclasses.asdict
        # (whose recursive deep copy cost more than the rest of a REGISTER's binding).
        return StoredBinding(self.aor, self.contact, self.expires_at,
                             {name: getattr(self, name) for name in _STORED_FIELDS})

    @classmethod
    def from_stored(cls, stored: StoredBinding) -> Binding:
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in stored.data.items() if k in known}
        return cls(aor=stored.aor, contact=stored.contact, expires_at=stored.expires_at, **data)


# Binding fields saved in the store's ``data`` column (the others are columns or runtime).
_STORED_FIELDS = tuple(name for name in Binding.__dataclass_fields__
                       if name not in ("aor", "contact", "expires_at", "reachable", "rtt_ms",
                                       "last_qualify"))


class Location:
    """AOR -> bindings, expiring lazily and by a periodic sweep."""

    def __init__(self, store: Store | None = None) -> None:
        self._by_aor: dict[str, dict[str, Binding]] = {}
        self.store = store

    async def load(self, now: float) -> int:
        """Restore bindings saved by a previous run; returns how many."""
        if self.store is None:
            return 0
        count = 0
        for stored in await self.store.load_bindings(now):
            binding = Binding.from_stored(stored)
            self._by_aor.setdefault(binding.aor, {})[binding.contact] = binding
            count += 1
        return count

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings of `aor`, most recent registration first."""
        contacts = self._by_aor.get(aor)
        if not contacts:
            return []
        live = [b for b in contacts.values() if b.expires_at > now]
        if len(live) != len(contacts):
            for b in list(contacts.values()):
                if b.expires_at <= now:
                    self.remove(aor, b.contact)
        if len(live) > 1:
            live.sort(key=lambda b: b.registered_at, reverse=True)
        return live

    def get(self, aor: str, contact: str) -> Binding | None:
        return self._by_aor.get(aor, {}).get(contact)

    def put(self, binding: Binding) -> None:
        self._by_aor.setdefault(binding.aor, {})[binding.contact] = binding
        if self.store is not None:
            self.store.save_binding(binding.to_stored())

    def remove(self, aor: str, contact: str) -> None:
        contacts = self._by_aor.get(aor)
        if contacts and contacts.pop(contact, None) is not None:
            if not contacts:
                del self._by_aor[aor]
            if self.store is not None:
                self.store.delete_binding(aor, contact)

    def remove_all(self, aor: str) -> None:
        for contact in list(self._by_aor.get(aor, {})):
            self.remove(aor, contact)

    def expire(self, now: float) -> int:
        """Drop expired bindings everywhere; returns how many."""
        gone = [(b.aor, b.contact) for contacts in self._by_aor.values()
                for b in contacts.values() if b.expires_at <= now]
        for aor, contact in gone:
            self.remove(aor, contact)
        return len(gone)

    def all(self) -> list[Binding]:
        return [b for contacts in self._by_aor.values() for b in contacts.values()]

    def __len__(self) -> int:
        return sum(len(c) for c in self._by_aor.values())

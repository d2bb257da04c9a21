"""Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760), sans-I/O.

No clock is read here: every time-dependent call takes ``now``.

Nonces are stateless: ``base64url(timestamp || salt || HMAC(secret, ...))``,
so any process holding the secret can tell a nonce it issued ("ok"), one that
is too old ("stale") and a forged or mangled one ("bad") without remembering
anything. Replay protection for ``qop=auth`` uses :class:`NonceCounter`, a
bounded LRU of the highest nonce-count seen per nonce.

:class:`DigestAuthenticator` is what the registrar and the INVITE path use. It
answers an unknown user exactly like a known user with a wrong password (same
challenge, same result and reason, a dummy hash computed so the work is the
same) so the realm cannot be probed for extension numbers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "DigestAuthenticator",
    "DigestCredentials",
    "NonceCounter",
    "NonceFactory",
    "auth_scheme",
    "build_authorization",
    "build_challenge",
    "build_challenges",
    "choose_challenge",
    "compute_ha1",
    "compute_response",
    "parse_authorization",
    "parse_challenge",
    "verify_response",
]

# Algorithm name (upper-cased) -> (hash constructor, session variant?).
ALGORITHMS: dict[str, tuple[Callable[..., hashlib._Hash], bool]] = {
    "MD5": (hashlib.md5, False),
    "MD5-SESS": (hashlib.md5, True),
    "SHA-256": (hashlib.sha256, False),
    "SHA-256-SESS": (hashlib.sha256, True),
}

NonceStatus = Literal["ok", "stale", "bad"]

_TS = struct.Struct(">Q")  # issue time in milliseconds
_SALT_LEN = 8
_MAC_LEN = 16
_RAW_LEN = _TS.size + _SALT_LEN + _MAC_LEN
_CLOCK_SKEW = 2.0  # seconds a nonce may appear to come from the future (several processes)


class NonceFactory:
    """Issues and verifies stateless nonces bound to ``secret`` and ``realm``.

    ``lifetime`` is short (30 s) because a client answering a stale challenge
    simply retries without asking its user; replay exposure stays small.
    """

    __slots__ = ("_hmac", "_key", "_realm", "lifetime")

    def __init__(self, secret: bytes, lifetime: float = 30, *, realm: str = "") -> None:
        self._key = secret
        self._hmac = hmac.new(secret, digestmod=hashlib.sha256)
        self._realm = realm.encode("utf-8")
        self.lifetime = lifetime

    def _mac(self, head: bytes) -> bytes:
        # Copy a keyed HMAC prepared once: cheaper than keying one per nonce.
        h = self._hmac.copy()
        h.update(head + self._realm)
        return h.digest()[:_MAC_LEN]

    def issue(self, now: float) -> str:
        """A new nonce stamped with ``now``."""
        # The salt keeps two nonces issued in the same millisecond distinct, so
        # their nonce-counts never collide in NonceCounter.
        head = _TS.pack(int(now * 1000)) + os.urandom(_SALT_LEN)  # = secrets.token_bytes
        return base64.urlsafe_b64encode(head + self._mac(head)).rstrip(b"=").decode("ascii")

    def verify(self, nonce: str, now: float) -> NonceStatus:
        """``"ok"``, ``"stale"`` (ours but expired) or ``"bad"`` (not ours)."""
        if len(nonce) != 43:  # 32 bytes of base64 without padding
            return "bad"
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (ValueError, TypeError):
            return "bad"
        if len(raw) != _RAW_LEN:
            return "bad"
        head = raw[: _TS.size + _SALT_LEN]
        if not hmac.compare_digest(raw[-_MAC_LEN:], self._mac(head)):
            return "bad"
        issued = _TS.unpack_from(raw)[0] / 1000.0
        if issued > now + _CLOCK_SKEW:
            return "bad"
        if now - issued > self.lifetime:
            return "stale"
        return "ok"


def build_challenge(
    realm: str,
    nonce: str,
    *,
    algorithm: str = "MD5",
    stale: bool = False,
    qop: str | None = "auth",
    opaque: str | None = None,
) -> str:
    """The value of a WWW-Authenticate / Proxy-Authenticate header."""
    parts = [f'Digest realm="{_quote(realm)}"', f'nonce="{nonce}"']
    if opaque is not None:
        parts.append(f'opaque="{_quote(opaque)}"')
    parts.append(f"algorithm={algorithm}")
    if qop:
        parts.append(f'qop="{qop}"')
    if stale:
        parts.append("stale=true")
    return ", ".join(parts)


def build_challenges(
    realm: str,
    nonce: str,
    *,
    algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
    stale: bool = False,
    qop: str | None = "auth",
    opaque: str | None = None,
) -> list[str]:
    """One challenge per algorithm, most preferred first (RFC 8760 sec. 2.4)."""
    return [
        build_challenge(realm, nonce, algorithm=a, stale=stale, qop=qop, opaque=opaque)
        for a in algorithms
    ]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# --------------------------------------------------------------------- parsing


@dataclass(slots=True)
class DigestCredentials:
    """The parameters of an ``Authorization: Digest ...`` header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None


_TOKEN_END = frozenset(' \t\r\n,="')
# One auth-param: name [LWS] = [LWS] (quoted-string | token), then optional LWS. The
# token branch may not start with '"' so an unterminated quoted-string is refused.
_PARAM = (r'[ \t\r\n,]*([^ \t\r\n,="]+)[ \t\r\n]*=[ \t\r\n]*'
          r'("[^"\\]*(?:\\.[^"\\]*)*"|(?!")[^ \t\r\n,]*)[ \t\r\n]*')
_PARAM_RE = re.compile(_PARAM, re.DOTALL)
# The whole list: params each followed by a comma or the end, then only separators.
_PARAMS_RE = re.compile(rf"(?:{_PARAM}(?=,|\Z))*[ \t\r\n,]*", re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)


def _parse_params(s: str, i: int) -> dict[str, str] | None:
    """Parse ``name=value`` pairs (value token or quoted-string) from ``s[i:]``.

    One regex checks the whole list, one more extracts it: no per-character Python.
    """
    if _PARAMS_RE.fullmatch(s, i) is None:
        return None
    params: dict[str, str] = {}
    for name, value in _PARAM_RE.findall(s, i):
        name = name.lower()
        if name in params:
            return None  # a repeated parameter is ambiguous: refuse it
        if value[:1] == '"':
            value = value[1:-1]
            if "\\" in value:
                value = _QUOTED_PAIR_RE.sub(r"\1", value)
        params[name] = value
    return params


def auth_scheme(value: str) -> str:
    """The scheme token of an Authorization value (``"digest"``, ``"newauth"``...)."""
    return value.strip().split(None, 1)[0].lower() if value.strip() else ""


def parse_challenge(value: str) -> dict[str, str] | None:
    """Parameters of a Digest WWW-Authenticate / Proxy-Authenticate value.

    Names are lower-cased; None when the scheme is not Digest or it is malformed.
    """
    s = value.strip()
    sp = 0
    while sp < len(s) and s[sp] not in " \t\r\n":
        sp += 1
    if s[:sp].lower() != "digest":
        return None
    p = _parse_params(s, sp)
    if p is None or "realm" not in p or "nonce" not in p:
        return None
    return p


def choose_challenge(values: list[str]) -> dict[str, str] | None:
    """The challenge a client answers among a 401/407's values (RFC 8760 sec. 2.4).

    The server lists its preferred algorithm first; the first Digest challenge
    with an algorithm and qop this module can compute wins. None when there is
    no such challenge (the caller reports "no authentication").
    """
    for value in values:
        challenge = parse_challenge(value)
        if challenge is None:
            continue
        if challenge.get("algorithm", "MD5").upper() not in ALGORITHMS:
            continue
        qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
        if qops and "auth" not in qops:
            continue
        return challenge
    return None


def build_authorization(
    challenge: dict[str, str],
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> str | None:
    """Answer a parsed challenge (the PBX as a client, e.g. trunk registration).

    Returns the Authorization value, or None for an algorithm or qop we lack.
    """
    algorithm = challenge.get("algorithm", "MD5")
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        return None
    use_qop = "auth" if qops else None
    sess = algorithm.upper().endswith("-SESS")
    if (use_qop is not None or sess) and cnonce is None:
        cnonce = secrets.token_hex(8)
    creds = DigestCredentials(
        username=username,
        realm=challenge["realm"],
        nonce=challenge["nonce"],
        uri=uri,
        response="",
        algorithm=algorithm,
        qop=use_qop,
        nc=f"{nc:08x}" if use_qop else None,
        cnonce=cnonce if use_qop or sess else None,
        opaque=challenge.get("opaque"),
    )
    response = compute_response(creds, method, password=password)
    if response is None:
        return None
    parts = [
        f'Digest username="{_quote(username)}"',
        f'realm="{_quote(creds.realm)}"',
        f'nonce="{_quote(creds.nonce)}"',
        f'uri="{_quote(uri)}"',
        f'response="{response}"',
        f"algorithm={algorithm}",
    ]
    if use_qop:
        parts += [f"qop={use_qop}", f"nc={creds.nc}", f'cnonce="{_quote(cnonce or "")}"']
    elif sess:
        parts.append(f'cnonce="{_quote(cnonce or "")}"')
    if creds.opaque is not None:
        parts.append(f'opaque="{_quote(creds.opaque)}"')
    return ", ".join(parts)


def parse_authorization(value: str) -> DigestCredentials | None:
    """Parse a Digest Authorization / Proxy-Authorization value.

    Returns None when the scheme is not Digest (RFC 4475 ``NewAuth``), a
    required parameter is missing, or the syntax is broken; the caller then
    answers with a fresh challenge (use :func:`auth_scheme` to tell which).
    """
    s = value.strip()
    sp = 0
    while sp < len(s) and s[sp] not in " \t\r\n":
        sp += 1
    if s[:sp].lower() != "digest":
        return None
    p = _parse_params(s, sp)
    if p is None:
        return None
    try:
        creds = DigestCredentials(
            username=p["username"],
            realm=p["realm"],
            nonce=p["nonce"],
            uri=p["uri"],
            response=p["response"].lower(),
            algorithm=p.get("algorithm", "MD5"),
            qop=p.get("qop"),
            nc=p.get("nc"),
            cnonce=p.get("cnonce"),
            opaque=p.get("opaque"),
        )
    except KeyError:
        return None
    if creds.qop is not None and (creds.nc is None or creds.cnonce is None):
        return None  # qop requires nc and cnonce (RFC 2617 3.2.2)
    return creds


# ------------------------------------------------------------------ computing


def compute_ha1(
    username: str, realm: str, password: str, algorithm: str = "MD5"
) -> str:
    """H(username:realm:password) for the algorithm's hash (not the -sess step)."""
    h = ALGORITHMS[algorithm.upper()][0]
    return h(f"{username}:{realm}:{password}".encode()).hexdigest()


def compute_response(
    creds: DigestCredentials,
    method: str,
    *,
    password: str | None = None,
    ha1: str | None = None,
) -> str | None:
    """The expected ``response`` value, or None if the algorithm/qop is unsupported.

    ``ha1`` is H(username:realm:password) of the credentials' algorithm, for
    stores that keep hashes rather than passwords.
    """
    algo = ALGORITHMS.get(creds.algorithm.upper())
    if algo is None:
        return None
    h, sess = algo
    if ha1 is None:
        if password is None:
            raise ValueError("need password or ha1")
        ha1 = h(f"{creds.username}:{creds.realm}:{password}".encode()).hexdigest()
    if sess:
        if creds.cnonce is None:
            return None
        ha1 = h(f"{ha1}:{creds.nonce}:{creds.cnonce}".encode()).hexdigest()
    qop = creds.qop
    if qop is not None and qop.lower() != "auth":
        return None  # auth-int would need the body hash; we never offer it
    ha2 = h(f"{method}:{creds.uri}".encode()).hexdigest()
    if qop is None:  # RFC 2069 compatibility
        return h(f"{ha1}:{creds.nonce}:{ha2}".encode()).hexdigest()
    return h(f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{qop}:{ha2}".encode()).hexdigest()


def verify_response(
    creds: DigestCredentials,
    method: str,
    password: str | None = None,
    *,
    ha1: str | None = None,
) -> bool:
    """True when ``creds.response`` is right for ``method`` (constant-time compare)."""
    expected = compute_response(creds, method, password=password, ha1=ha1)
    if expected is None:
        return False
    return hmac.compare_digest(expected.encode("ascii"), creds.response.encode("ascii", "replace"))


# ------------------------------------------------------------------ nonce-count


class NonceCounter:
    """Highest nonce-count seen per nonce, in a bounded LRU map.

    Nonces are stateless, so replay state is the only memory auth keeps. The
    map holds at most ``max_entries`` nonces (roughly 200 bytes each, so
    about 20 MB at the default 100,000); the least
    recently used falls out first. A nonce not in the map (first use, evicted,
    or seen by another process sharing the secret) is accepted at any nc >= 1:
    refusing would make clients loop on stale challenges, and the nonce
    lifetime still bounds how long a replay can work.
    """

    __slots__ = ("_map", "max_entries")

    def __init__(self, max_entries: int = 100_000) -> None:
        self._map: OrderedDict[str, int] = OrderedDict()
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._map)

    def check(self, nonce: str, nc: str | int) -> bool:
        """Record ``nc`` for ``nonce``; False if it does not increase (a replay)."""
        try:
            count = nc if isinstance(nc, int) else int(nc, 16)
        except ValueError:
            return False
        if count < 1:
            return False
        m = self._map
        last = m.get(nonce)
        if last is not None:
            if count <= last:
                return False
            m.move_to_end(nonce)
        elif len(m) >= self.max_entries:
            m.popitem(last=False)
        m[nonce] = count
        return True


# ---------------------------------------------------------------- authenticator


@dataclass(slots=True)
class AuthResult:
    """Outcome of :meth:`DigestAuthenticator.check`.

    On failure the caller re-challenges (401/407), with ``stale=True`` when set.
    """

    ok: bool
    username: str | None
    stale: bool
    reason: str

    @property
    def challenge_again(self) -> bool:
        """Answer with a fresh challenge rather than 403: not a verdict on the
        password (a stale or pre-restart nonce, a realm the phone cached, a
        scheme we do not speak: RFC 4475 3.3.7)."""
        return self.stale or (not self.ok and self.reason in _RECHALLENGE)


_RECHALLENGE = frozenset({"unsupported scheme", "malformed credentials", "wrong realm",
                          "bad nonce"})

# One reason for both "no such user" and "wrong password": nothing to enumerate.
_BAD_CREDENTIALS = "bad credentials"


class DigestAuthenticator:
    """Challenges and checks for one realm, with a password lookup."""

    def __init__(
        self,
        realm: str,
        secret: bytes,
        lookup_password: Callable[[str], str | None],
        *,
        lookup_md5_ha1: Callable[[str], str | None] | None = None,
        nonce_lifetime: float = 30,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        max_nonces: int = 100_000,
    ) -> None:
        self.realm = realm
        self.nonces = NonceFactory(secret, nonce_lifetime, realm=realm)
        self.counter = NonceCounter(max_nonces)
        self.lookup_password = lookup_password
        # Users known by H(user:realm:password) only (sip.conf md5secret): MD5 digests.
        self.lookup_md5_ha1 = lookup_md5_ha1
        self.algorithms = algorithms
        # The dummy password is random per instance so it can never be guessed.
        self._dummy = secrets.token_hex(16)

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """Header values for a 401/407: one per algorithm, preferred first."""
        return build_challenges(
            self.realm, self.nonces.issue(now), algorithms=self.algorithms, stale=stale
        )

    def check(
        self, header_value: str, method: str, now: float, *, uri: str | None = None
    ) -> AuthResult:
        """Check an Authorization value for a request with ``method``.

        ``uri``, when given, must equal the credentials' digest-uri.
        """
        creds = parse_authorization(header_value)
        if creds is None:
            scheme = auth_scheme(header_value)
            reason = "malformed credentials" if scheme == "digest" else "unsupported scheme"
            return AuthResult(False, None, False, reason)
        user = creds.username
        if creds.realm != self.realm:
            return AuthResult(False, user, False, "wrong realm")
        algorithm = creds.algorithm.upper()
        if algorithm not in ALGORITHMS or algorithm.removesuffix("-SESS") not in self.algorithms:
            return AuthResult(False, user, False, "unsupported algorithm")
        if uri is not None and creds.uri != uri:
            return AuthResult(False, user, False, "uri mismatch")
        status = self.nonces.verify(creds.nonce, now)
        if status == "bad":
            return AuthResult(False, user, False, "bad nonce")
        password = self.lookup_password(user)
        ha1 = None
        if password is None and self.lookup_md5_ha1 is not None \
                and algorithm.removesuffix("-SESS") == "MD5":
            ha1 = self.lookup_md5_ha1(user)
        known = password is not None or ha1 is not None
        # Same work for an unknown user: hash a random password that cannot match.
        good = verify_response(creds, method, password if known else self._dummy,
                               ha1=ha1.lower() if ha1 else None)
        if not (good and known):
            return AuthResult(False, user, False, _BAD_CREDENTIALS)
        if status == "stale":
            # RFC 2617: stale=true only when the digest itself was right.
            return AuthResult(False, user, True, "stale nonce")
        if creds.qop is not None and not self.counter.check(creds.nonce, creds.nc or ""):
            return AuthResult(False, user, True, "nonce count replay")
        return AuthResult(True, user, False, "ok")

"""SDES keys for SRTP in SDP (RFC 4568): `a=crypto:` lines, parsed, chosen and made.

Sans-I/O and free of media code: keys are bytes here; pbx/media/srtp.py turns
them into SRTP contexts. Two suites, the ones every SDES phone offers:
AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32 (a 16-byte key and a
14-byte salt, sent together base64-encoded as `inline:`).

    a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")  # our preference
KEY_SALT_LEN = 30  # 16-byte master key + 14-byte master salt

_LINE = re.compile(r"^(\d{1,9})\s+(\S+)\s+(\S+)(?:\s+(.*))?$")


class CryptoError(ValueError):
    """An `a=crypto` line that cannot be used."""


@dataclass(frozen=True, slots=True)
class Crypto:
    """One `a=crypto` attribute: tag, suite and master key||salt."""

    tag: int
    suite: str
    key: bytes  # master key || master salt (30 bytes for our suites)

    def value(self) -> str:
        """The attribute value (what follows `a=crypto:`)."""
        inline = base64.b64encode(self.key).decode("ascii")
        return f"{self.tag} {self.suite} inline:{inline}"


def parse_crypto(value: str) -> Crypto:
    """Parse the value of an `a=crypto` attribute; CryptoError if unusable by us.

    Lifetimes are accepted (ours are far below 2^31 packets); an MKI, several
    keys or session parameters (UNENCRYPTED_SRTP, KDR...) are refused: the
    line is skipped and another one offered may be taken."""
    m = _LINE.match(value.strip())
    if not m:
        raise CryptoError(f"malformed crypto attribute: {value!r}")
    tag, suite, params, session_params = m.groups()
    if suite not in SUITES:
        raise CryptoError(f"crypto suite {suite} is not supported (we have {', '.join(SUITES)})")
    if session_params:
        raise CryptoError(f"crypto session parameters not supported: {session_params}")
    if ";" in params:
        raise CryptoError("several master keys in one crypto attribute are not supported")
    method, _, rest = params.partition(":")
    if method.lower() != "inline":
        raise CryptoError(f"key method {method!r} is not inline")
    fields = rest.split("|")
    for extra in fields[1:]:
        if ":" in extra:
            raise CryptoError("master key identifiers (MKI) are not supported")
    try:
        key = base64.b64decode(fields[0] + "=" * (-len(fields[0]) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(f"crypto key is not base64: {fields[0]!r}") from exc
    if len(key) != KEY_SALT_LEN:
        raise CryptoError(f"crypto key is {len(key)} bytes, {suite} needs {KEY_SALT_LEN}")
    return Crypto(int(tag), suite, key)


def choose(values: list[str]) -> Crypto | None:
    """The offered line we take: our preferred suite first, then the offer's order."""
    usable = []
    for value in values:
        try:
            usable.append(parse_crypto(value))
        except CryptoError:
            continue
    for suite in SUITES:
        for crypto in usable:
            if crypto.suite == suite:
                return crypto
    return None


def new_key() -> bytes:
    """A fresh random master key||salt (from the OS's generator)."""
    return secrets.token_bytes(KEY_SALT_LEN)


def offer_lines(key: bytes) -> list[Crypto]:
    """What we offer: every suite we have, tags 1.., with one key of ours."""
    return [Crypto(i, suite, key) for i, suite in enumerate(SUITES, 1)]


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """The outcome of SDES for one leg: the suite, our key (we encrypt with it)
    and the remote's (we decrypt with it)."""

    suite: str
    local_key: bytes
    remote_key: bytes

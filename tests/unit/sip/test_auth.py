"""Digest authentication: RFC vectors, nonces, nc replay, no user enumeration."""

from __future__ import annotations

import hashlib

import pytest

from pbx.sip.auth import (
    AuthResult,
    DigestAuthenticator,
    DigestCredentials,
    NonceCounter,
    NonceFactory,
    auth_scheme,
    build_authorization,
    build_challenge,
    build_challenges,
    compute_ha1,
    compute_response,
    parse_authorization,
    parse_challenge,
    verify_response,
)

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "pbx.example.com"


def _params(challenge: str) -> dict[str, str]:
    p = parse_challenge(challenge)
    assert p is not None
    return p


def authorization(
    user: str,
    password: str,
    challenge: str,
    *,
    method: str = "REGISTER",
    uri: str = "sip:pbx.example.com",
    nc: int = 1,
    cnonce: str = "0a4f113b",
    qop: bool = True,
) -> str:
    """Build the Authorization value a UA would send for ``challenge``."""
    p = _params(challenge)
    if not qop:
        p.pop("qop", None)
    value = build_authorization(p, user, password, method, uri, nc=nc, cnonce=cnonce)
    assert value is not None
    return value


# ------------------------------------------------------------------ RFC vectors


def test_rfc2617_example() -> None:
    value = (
        'Digest username="Mufasa",\r\n realm="testrealm@host.com",\r\n'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n uri="/dir/index.html",\r\n'
        " qop=auth,\r\n nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n"
        ' response="6629fae49393a05397450978507c4ef1",\r\n'
        ' opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    creds = parse_authorization(value)
    assert creds is not None
    assert creds.username == "Mufasa" and creds.nc == "00000001" and creds.qop == "auth"
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert verify_response(creds, "GET", "Circle Of Life")
    assert not verify_response(creds, "GET", "Circle of Life")
    assert not verify_response(creds, "POST", "Circle Of Life")
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert verify_response(creds, "GET", ha1=ha1)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    value = (
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        f"algorithm={algorithm}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
        'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        f'response="{expected}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    creds = parse_authorization(value)
    assert creds is not None
    assert compute_response(creds, "GET", password="Circle of Life") == expected
    assert verify_response(creds, "GET", "Circle of Life")


def test_rfc2069_no_qop_and_sess_variants() -> None:
    creds = DigestCredentials("bob", "r", "n", "sip:r", "", "MD5")
    creds.response = compute_response(creds, "INVITE", password="pw") or ""
    assert verify_response(creds, "INVITE", "pw")
    for algo in ("MD5-sess", "SHA-256-sess"):
        c = DigestCredentials("bob", "r", "n", "sip:r", "", algo, "auth", "00000001", "cn")
        c.response = compute_response(c, "INVITE", password="pw") or ""
        assert verify_response(c, "INVITE", "pw")
        c.cnonce = "other"
        assert not verify_response(c, "INVITE", "pw")
    unknown = DigestCredentials("bob", "r", "n", "sip:r", "00", "SHA-512-256")
    assert not verify_response(unknown, "INVITE", "pw")
    auth_int = DigestCredentials("bob", "r", "n", "sip:r", "00", "MD5", "auth-int", "1", "c")
    assert not verify_response(auth_int, "INVITE", "pw")


# --------------------------------------------------------------------- parsing


def test_parse_odd_spacing_quoting_and_escapes() -> None:
    value = (
        'digest   USERNAME = "a\\"b" ,realm="r",nonce=abc,  uri="sip:x;a=b,c",'
        "response=0123ABCD,algorithm=sha-256"
    )
    creds = parse_authorization(value)
    assert creds is not None
    assert creds.username == 'a"b'
    assert creds.nonce == "abc"
    assert creds.uri == "sip:x;a=b,c"
    assert creds.response == "0123abcd"
    assert creds.algorithm == "sha-256"


@pytest.mark.parametrize(
    "value",
    [
        'NewAuth realm="r", nonce="n"',  # RFC 4475 regaut01
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "",
        'Digest username="u", realm="r", nonce="n", uri="u"',  # no response
        'Digest username="u, realm="r", nonce="n", uri="u", response="x"',  # bad quote
        'Digest username="u", username="v", realm="r", nonce="n", uri="u", response="x"',
        'Digest username="u" realm="r", nonce="n", uri="u", response="x"',  # missing comma
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth',
    ],
)
def test_parse_rejects(value: str) -> None:
    assert parse_authorization(value) is None


def test_auth_scheme() -> None:
    assert auth_scheme('NewAuth realm="x"') == "newauth"
    assert auth_scheme("  Digest a=b") == "digest"
    assert auth_scheme("") == ""


def test_build_challenge_shape() -> None:
    c = build_challenge("r\"x", "N", algorithm="SHA-256", stale=True, opaque="o")
    assert c == (
        'Digest realm="r\\"x", nonce="N", opaque="o", algorithm=SHA-256, qop="auth", stale=true'
    )
    both = build_challenges("r", "N")
    assert [("SHA-256" in c, "MD5" in c) for c in both] == [(True, False), (False, True)]


# ---------------------------------------------------------------------- nonces


def test_nonce_factory_ok_stale_bad() -> None:
    f = NonceFactory(SECRET, lifetime=30, realm=REALM)
    n = f.issue(1000.0)
    assert f.verify(n, 1000.0) == "ok"
    assert f.verify(n, 1029.9) == "ok"
    assert f.verify(n, 1030.5) == "stale"
    assert f.verify(n, 990.0) == "bad"  # from the future
    tampered = n[:-2] + ("AA" if n[-2:] != "AA" else "BB")
    assert f.verify(tampered, 1000.0) == "bad"
    assert f.verify("not-a-nonce", 1000.0) == "bad"
    assert f.verify("!" * 43, 1000.0) == "bad"
    assert NonceFactory(b"other", realm=REALM).verify(n, 1000.0) == "bad"
    assert NonceFactory(SECRET, realm="other").verify(n, 1000.0) == "bad"
    assert f.issue(1000.0) != n  # salted


def test_nonce_counter_replay_and_bound() -> None:
    c = NonceCounter(max_entries=3)
    assert c.check("a", "00000001")
    assert c.check("a", "00000002")
    assert not c.check("a", "00000002")  # replay
    assert not c.check("a", 1)  # going back
    assert not c.check("b", "zz")  # not hex
    assert not c.check("b", 0)
    for n in "bcd":
        assert c.check(n, 1)
    assert len(c) == 3  # "a" evicted (least recently used)
    assert c.check("a", 1)


# -------------------------------------------------------------- authenticator


USERS = {"100": "secret100", "alice": "wonderland"}


def make_auth() -> DigestAuthenticator:
    return DigestAuthenticator(REALM, SECRET, USERS.get)


@pytest.mark.parametrize("index", [0, 1])  # SHA-256 first, then MD5
def test_authenticator_accepts_both_algorithms(index: int) -> None:
    auth = make_auth()
    challenges = auth.challenge(100.0)
    assert len(challenges) == 2
    assert "algorithm=SHA-256" in challenges[0] and "algorithm=MD5" in challenges[1]
    value = authorization("100", "secret100", challenges[index])
    assert auth.check(value, "REGISTER", 101.0) == AuthResult(True, "100", False, "ok")


def test_authenticator_no_qop_client() -> None:
    auth = make_auth()
    value = authorization("alice", "wonderland", auth.challenge(0.0)[1], qop=False)
    assert auth.check(value, "REGISTER", 1.0).ok


def test_authenticator_stale_nonce_only_when_digest_right() -> None:
    auth = make_auth()
    ch = auth.challenge(100.0)[0]
    good = authorization("100", "secret100", ch)
    res = auth.check(good, "REGISTER", 200.0)
    assert (res.ok, res.stale, res.reason) == (False, True, "stale nonce")
    wrong = authorization("100", "nope", ch)
    res = auth.check(wrong, "REGISTER", 200.0)
    assert (res.ok, res.stale) == (False, False)
    assert "stale=true" in auth.challenge(200.0, stale=True)[0]


def test_authenticator_bad_nonce() -> None:
    auth = make_auth()
    forged = build_challenge(REALM, "A" * 43, algorithm="SHA-256")
    res = auth.check(authorization("100", "secret100", forged), "REGISTER", 1.0)
    assert (res.ok, res.stale, res.reason) == (False, False, "bad nonce")
    other = DigestAuthenticator(REALM, b"another secret", USERS.get)
    res = auth.check(authorization("100", "secret100", other.challenge(1.0)[0]), "REGISTER", 1.0)
    assert res.reason == "bad nonce"


def test_authenticator_nc_replay() -> None:
    auth = make_auth()
    ch = auth.challenge(0.0)[0]
    first = authorization("100", "secret100", ch, nc=1)
    assert auth.check(first, "REGISTER", 1.0).ok
    replay = auth.check(first, "REGISTER", 2.0)
    assert (replay.ok, replay.stale, replay.reason) == (False, True, "nonce count replay")
    assert auth.check(authorization("100", "secret100", ch, nc=2), "REGISTER", 3.0).ok


def test_authenticator_wrong_password_does_not_burn_nc() -> None:
    auth = make_auth()
    ch = auth.challenge(0.0)[0]
    assert not auth.check(authorization("100", "bad", ch, nc=9), "REGISTER", 1.0).ok
    assert auth.check(authorization("100", "secret100", ch, nc=1), "REGISTER", 1.0).ok


def test_unknown_user_indistinguishable_from_wrong_password() -> None:
    auth = make_auth()
    ch = auth.challenge(0.0)
    unknown = auth.check(authorization("999", "whatever", ch[0]), "REGISTER", 1.0)
    wrong = auth.check(authorization("100", "whatever", ch[0]), "REGISTER", 1.0)
    assert (unknown.ok, unknown.stale, unknown.reason) == (wrong.ok, wrong.stale, wrong.reason)
    assert unknown.ok is False
    # The next challenge has the same shape whoever asked.
    a, b = auth.challenge(2.0), auth.challenge(2.0)
    strip = [c.replace(_params(c)["nonce"], "N") for c in a]
    assert strip == [c.replace(_params(c)["nonce"], "N") for c in b]


def test_authenticator_rejections() -> None:
    auth = make_auth()
    ch = auth.challenge(0.0)[0]
    assert auth.check('NewAuth realm="x"', "REGISTER", 1.0).reason == "unsupported scheme"
    assert auth.check("Digest broken", "REGISTER", 1.0).reason == "malformed credentials"
    other_realm = ch.replace(REALM, "evil.example.com")
    assert auth.check(authorization("100", "secret100", other_realm), "REGISTER", 1.0).reason == (
        "wrong realm"
    )
    value = authorization("100", "secret100", ch, uri="sip:a")
    assert auth.check(value, "REGISTER", 1.0, uri="sip:b").reason == "uri mismatch"
    assert not auth.check(value, "INVITE", 1.0).ok  # method is part of the digest
    md5_only = DigestAuthenticator(REALM, SECRET, USERS.get, algorithms=("MD5",))
    res = md5_only.check(authorization("100", "secret100", ch), "REGISTER", 1.0)
    assert res.reason == "unsupported algorithm"


def test_client_side_challenge_answer() -> None:
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce
    ch = parse_challenge('Digest realm="trunk", nonce="abc", qop="auth,auth-int", opaque="o"')
    assert ch is not None and ch["qop"] == "auth,auth-int"
    value = build_authorization(ch, "acct", "pw", "REGISTER", "sip:trunk", cnonce="c1")
    assert value is not None and 'opaque="o"' in value and "qop=auth" in value
    creds = parse_authorization(value)
    assert creds is not None and creds.opaque == "o"
    assert verify_response(creds, "REGISTER", "pw")
    only_int = parse_challenge('Digest realm="t", nonce="n", qop="auth-int"')
    assert only_int is not None
    assert build_authorization(only_int, "a", "p", "INVITE", "sip:t") is None
    odd_algo = parse_challenge('Digest realm="t", nonce="n", algorithm=SHA-512-256')
    assert odd_algo is not None
    assert build_authorization(odd_algo, "a", "p", "INVITE", "sip:t") is None


def test_a_user_known_by_its_md5_hash_answers_md5_only() -> None:
    """sip.conf md5secret: the authenticator keeps H(user:realm:password), not the
    password; an MD5 answer with the password is right, a wrong one and a SHA-256
    one (which that hash cannot check) are not."""
    ha1 = hashlib.md5(f"carol:{REALM}:nightingale".encode()).hexdigest()
    auth = DigestAuthenticator(REALM, SECRET, USERS.get,
                               lookup_md5_ha1={"carol": ha1.upper()}.get)
    sha, md5 = auth.challenge(0.0)
    assert auth.check(authorization("carol", "nightingale", md5), "REGISTER", 1.0).ok
    assert not auth.check(authorization("carol", "nightingal", md5), "REGISTER", 1.0).ok
    assert not auth.check(authorization("carol", "nightingale", sha), "REGISTER", 1.0).ok
    # A user with a password is checked by it, whatever the hash lookup says.
    assert auth.check(authorization("100", "secret100", md5, nc=2), "REGISTER", 1.0).ok

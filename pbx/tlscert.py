"""Make a self-signed certificate and key for the TLS listener (`make cert`).

    python -m pbx.tlscert DIR [NAME ...]

writes DIR/pbx.crt and DIR/pbx.key (mode 0600) with OpenSSL: an EC P-256 key,
valid 825 days (the longest Apple's and Android's phones accept), subject
alternative names for every NAME given (an IP address or a host name;
default 127.0.0.1, ::1 and localhost). Phones that verify the server need
pbx.crt as their CA file. For a PBX on the internet use a certificate from a
real CA instead (e.g. Let's Encrypt): set sip.tls.cert/key to its files.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_NAMES = ("127.0.0.1", "::1", "localhost")


def _san(names: list[str]) -> str:
    out = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            out.append(f"IP:{name}")
        except ValueError:
            out.append(f"DNS:{name}")
    return ",".join(out)


def make_cert(folder: Path, names: list[str] | None = None, days: int = 825) -> tuple[Path, Path]:
    """Write folder/pbx.crt and folder/pbx.key; returns their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "pbx.crt", folder / "pbx.key"
    names = list(names or DEFAULT_NAMES)
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", str(days), "-subj", f"/CN={names[0]}",
                    "-addext", f"subjectAltName={_san(names)}"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    cert, key = make_cert(Path(argv[0]), argv[1:] or None)
    print(f"wrote {cert} and {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

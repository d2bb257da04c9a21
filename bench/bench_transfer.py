"""PBX time of a transfer: REFER in, until the transferee's call moves.

Uses the B2BUA unit tests' fake SIP core (tests/unit/core): the real
CallManager, legs, Dial, bridges, dialplan and media sessions, no network
between the phones and the PBX, so what is timed is the PBX's own work.

* blind: from the REFER reaching the PBX to the transferee's INVITE to the
  target leaving it (202 and NOTIFY sent, the transferee run through the
  dialplan to Dial(), the target's leg and media made, its INVITE built);
* attended: from the REFER with Replaces reaching the PBX to the two other
  parties' media relayed to each other (the NOTIFY 200 then goes out).

Usage: .venv/bin/python bench/bench_transfer.py [N]   (default 200 of each)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Location
from pbx.sip.auth import DigestAuthenticator
from tests.unit.core.test_b2bua import FakeCore
from tests.unit.core.test_transfer_b2bua import (
    DIALPLAN,
    PHONES,
    SIP_CONF,
    A,
    C,
    Pbx,
    place,
    refer,
)


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "sip.conf").write_text(SIP_CONF)
        (d / "extensions.conf").write_text(DIALPLAN)
        (d / "pbx.yaml").write_text("rtp: {ports: [45000, 49999]}\nsip: {session_expires: 0}\n")
        config = load_config(d)
        core = FakeCore()
        location = Location()
        calls = CallManager(core=core, config=config, location=location,
                            auth=DigestAuthenticator("pbx", b"k" * 32, lambda user: None),
                            store=None)  # type: ignore[arg-type]
        await calls.start()
        pbx = Pbx(core, calls, location)
        for user in PHONES:
            pbx.register(user)
        blind, attended = [], []
        for i in range(n):
            call, _ = await place(pbx, "6001", "6002", f"b{i}")
            before = len(core.sent("INVITE", C))
            req = refer(call, "<sip:6003@127.0.0.1>")
            t0 = time.perf_counter()
            calls.on_in_dialog(req, f"tx-r{i}", A)
            while len(core.sent("INVITE", C)) == before:
                await asyncio.sleep(0)
            blind.append(time.perf_counter() - t0)
            for leg in list(calls.channels.values()):
                leg.abandon_refer()
                await leg.hangup()
            call1, _ = await place(pbx, "6001", "6002", f"x{i}")
            call2, _ = await place(pbx, "6001", "6003", f"y{i}")
            x1 = pbx.leg(f"x{i}")
            p1 = x1.bridge.other(x1)
            replaces = f"y{i}%3Bto-tag%3D{call2.pbx_tag}%3Bfrom-tag%3D{call2.tag}"
            req = refer(call1, f"<sip:6003@127.0.0.1?Replaces={replaces}>")
            t0 = time.perf_counter()
            calls.on_in_dialog(req, f"tx-a{i}", A)
            assert p1.relay is not None and p1.relay.active
            attended.append(time.perf_counter() - t0)
            for leg in list(calls.channels.values()):
                leg.abandon_refer()
                await leg.hangup()
            core.requests.clear()
            core.responses.clear()
            core.stateless.clear()
        await calls.stop()
    for name, xs in (("blind (REFER -> transferee's INVITE to the target)", blind),
                     ("attended (REFER with Replaces -> parties joined)", attended)):
        xs.sort()
        ms = [x * 1000 for x in xs]
        print(f"{name}: n={len(ms)} median {statistics.median(ms):.2f} ms, "
              f"p95 {ms[int(len(ms) * 0.95) - 1]:.2f} ms, max {ms[-1]:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))

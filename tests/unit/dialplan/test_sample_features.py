"""The sample dialplan's office feature codes, run by the real interpreter on the
real etc/extensions.conf with an AstDB: *72/*73 forward all calls, *90/*91
forward on busy, *76/*77 do-not-disturb (and its busy lamp), *97; a call to a
forwarded extension rings the target, chains of forwards are followed and a
forwarding loop stops after MAX_FORWARDS hops; **6002 picks up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialplan.apps import AppContext
from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from pbx.astdb import AstDb
from pbx.channel import CallerId, DialResult, DialTarget
from pbx.config import load_config
from pbx.devstate import CustomDevices, DeviceState, DeviceStates
from tests.unit.dialplan.test_interpreter import FakeChannel

REPO = Path(__file__).resolve().parents[3]
SAMPLE: list = []  # the dialplan of etc/, loaded by the fixture


class Phone(FakeChannel):
    """A caller whose Dial() is scripted: each target peer answers with a status."""

    def __init__(self, *args: object, answers: dict[str, str] | None = None,
                 **kw: object) -> None:
        super().__init__(*args, **kw)
        self.answers = answers or {}
        self.dialed: list[str] = []
        self.dialed_from: list[str] = []  # where the call was when it dialed

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        peer = targets[0].peer
        self.dialed.append(peer)
        self.dialed_from.append(f"{self.exten}@{self.context}")
        return DialResult(status=self.answers.get(peer, "NOANSWER"))


@pytest.fixture
async def office() -> AsyncIterator[tuple[DialplanServices, list[str]]]:
    config = load_config(REPO / "etc")
    db = AstDb.dry_run(None)
    registry = DeviceStates()
    custom = CustomDevices(registry, db)
    registry.add_provider("Custom", custom)
    log: list[str] = []

    async def voicemail(ctx: AppContext, args: list[str]) -> None:
        log.append(f"VoiceMail({','.join(args)})")

    async def pickupchan(ctx: AppContext, args: list[str]) -> None:
        log.append(f"PickupChan({','.join(args)})")

    services = DialplanServices(astdb=db, devices=registry, custom_devices=custom)
    services.apps = services.apps.with_apps({"VoiceMail": voicemail,
                                             "VoiceMailMain": voicemail,
                                             "PickupChan": pickupchan})
    SAMPLE.append(config.dialplan)
    yield services, log
    SAMPLE.clear()
    db.close()


async def dial(services: DialplanServices, caller: str, exten: str,
               answers: dict[str, str] | None = None) -> Phone:
    ch = Phone(f"SIP/{caller}-00000001", context="internal", exten=exten,
               callerid=CallerId(num=caller), answers=answers)
    await Interpreter(SAMPLE[0], services).run(ch)
    return ch


async def test_forward_all_calls_follows_and_cancels(office: tuple) -> None:
    services, _log = office
    ch = await dial(services, "6001", "*726002")
    assert services.astdb.get("CFIM", "6001") == "6002"
    assert ch.played()[0] == "beep"
    call = await dial(services, "6003", "6001")
    assert call.dialed == ["6002"]  # 6001's phone does not ring
    # Dial runs at the target's extension in [internal] (Pickup(6002@internal) finds it).
    assert call.dialed_from == ["6002@internal"]
    assert call.variables["FORWARD_COUNT"] == "1"
    await dial(services, "6001", "*73")
    assert services.astdb.get("CFIM", "6001") is None
    assert (await dial(services, "6003", "6001")).dialed == ["6001"]


async def test_a_chain_of_forwards_and_a_loop(office: tuple) -> None:
    services, _log = office
    await dial(services, "6001", "*726002")
    await dial(services, "6002", "*726003")
    assert (await dial(services, "6009", "6001")).dialed == ["6003"]
    await dial(services, "6003", "*726001")  # 6001 -> 6002 -> 6003 -> 6001 ...
    looped = await dial(services, "6009", "6001")
    assert len(looped.dialed) == 1  # rung once, where the guard stopped it
    assert looped.variables["FORWARD_COUNT"] == "6"  # MAX_FORWARDS=5 hops followed
    assert looped.dialed == ["6003"]


async def test_forward_on_busy_and_do_not_disturb(office: tuple) -> None:
    services, log = office
    await dial(services, "6002", "*906003")
    call = await dial(services, "6001", "6002", answers={"6002": "BUSY"})
    assert call.dialed == ["6002", "6003"]  # busy: then the forward
    await dial(services, "6002", "*91")
    call = await dial(services, "6001", "6002", answers={"6002": "BUSY"})
    assert call.dialed == ["6002"] and log[-1] == "VoiceMail(6002@default,b)"
    # Do-not-disturb: no ring, straight to the busy greeting; the lamp shows busy.
    await dial(services, "6002", "*76")
    assert services.devices.state("Custom:DND6002") is DeviceState.BUSY
    call = await dial(services, "6001", "6002")
    assert call.dialed == [] and log[-1] == "VoiceMail(6002@default,b)"
    await dial(services, "6002", "*77")
    assert services.devices.state("Custom:DND6002") is DeviceState.NOT_INUSE
    assert (await dial(services, "6001", "6002")).dialed == ["6002"]
    assert log[-1] == "VoiceMail(6002@default,u)"  # no answer


async def test_own_voicemail_and_directed_pickup(office: tuple) -> None:
    services, log = office
    await dial(services, "6002", "*97")
    assert log[-1] == "VoiceMail(6002@default)"
    await dial(services, "6001", "**6002")
    assert log[-1] == "PickupChan(SIP/6002)"

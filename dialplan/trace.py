"""`pbx dialplan trace`: dry-run a call through the dialplan, without network.

A TraceChannel stands in for the caller: media returns at once, digits come
from the simulated results (`--result Read=1234`, `--result Background=2`),
and Dial returns `--result Dial=BUSY` (default NOANSWER: nobody can answer a
dry run); Queue sets QUEUESTATUS from `--result Queue=FULL` (default TIMEOUT;
ANSWER: a member took the call). The output shows every step after substitution, the branches
taken, variables that changed, and where the call ends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialplan.apps import AppContext, AppFunc, AppRegistry
from dialplan.interpreter import Interpreter, exists
from dialplan.services import DialplanServices
from pbx.channel import (
    CallerId,
    Channel,
    ChannelState,
    DialResult,
    DialTarget,
    RecordResult,
)

if TYPE_CHECKING:
    from dialplan.model import Dialplan, Step

MAX_STEPS = 500  # a dialplan loop stops the trace here, with a message


class TraceChannel(Channel):
    """A channel whose media returns at once and whose inputs are scripted."""

    def __init__(self, *args: object, results: dict[str, str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.results = {k.lower(): v for k, v in (results or {}).items()}
        self.pending = ""  # digits the current application will receive
        self.played: list[str] = []

    def start_step(self, app: str) -> None:
        """A new step starts: script its input from the results."""
        self.pending = self.results.get(app.lower(), "")

    def _next_digit(self) -> str | None:
        if not self.pending:
            return None
        d, self.pending = self.pending[0], self.pending[1:]
        return d

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        """Record what would be played; a scripted digit interrupts."""
        self.check_hangup()
        self.played.extend(prompts)
        if interrupt and self.pending and self.pending[0] in interrupt:
            return self._next_digit() or ""
        return ""

    async def wait_digit(self, timeout: float) -> str | None:
        """The next scripted digit, or a timeout at once."""
        self.check_hangup()
        return self._next_digit()

    async def sleep(self, seconds: float) -> None:
        """Time does not pass in a trace."""
        self.check_hangup()

    async def echo(self) -> None:
        """Nothing to echo."""
        self.check_hangup()

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        """Pretend the caller said nothing and pressed '#'."""
        self.check_hangup()
        return RecordResult(path=path, seconds=0.0, stopped_by="dtmf:#")

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        """The scripted Dial result (default NOANSWER)."""
        self.check_hangup()
        status = self.results.get("dial", "NOANSWER").upper()
        return DialResult(status=status)


async def _dial_standin(ctx: AppContext, args: list[str]) -> None:
    # Used only while the real Dial module is not there: parse the targets
    # enough to call channel.dial, and set DIALSTATUS as Dial does.
    targets: list[DialTarget] = []
    for t in (args[0] if args else "").split("&"):
        tech, _, rest = t.strip().partition("/")
        peer, _, ext = rest.partition("/")
        if tech:
            targets.append(DialTarget(tech=tech, peer=peer, exten=ext or None))
    timeout = float(args[1]) if len(args) > 1 and args[1].strip().isdigit() else None
    res = await ctx.channel.dial(targets, timeout, args[2] if len(args) > 2 else "")
    ctx.channel.variables["DIALSTATUS"] = res.status


async def _voicemail_standin(ctx: AppContext, args: list[str]) -> None:
    ch = ctx.channel
    assert isinstance(ch, TraceChannel)
    await ch.answer()
    ch.variables["VMSTATUS"] = ch.results.get("voicemail", "SUCCESS").upper()


async def _vmmain_standin(ctx: AppContext, args: list[str]) -> None:
    await ctx.channel.answer()


async def _queue_standin(ctx: AppContext, args: list[str]) -> None:
    # No queue runs in a dry run: `--result Queue=STATUS` says how it ended
    # (TIMEOUT by default; ANSWER: a member talked to the caller, the call is over).
    ch = ctx.channel
    assert isinstance(ch, TraceChannel)
    status = ch.results.get("queue", "TIMEOUT").upper()
    if status == "ANSWER":
        await ch.answer()
        ctx.end()
        return
    ch.variables["QUEUESTATUS"] = status


async def _directory_standin(ctx: AppContext, args: list[str]) -> None:
    """`--result Directory=6002` selects that extension; OPERATOR goes to `o`;
    anything else is the DIRECTORY_RESULT (TIMEOUT by default)."""
    ch = ctx.channel
    assert isinstance(ch, TraceChannel)
    await ch.answer()
    result = ch.results.get("directory", "TIMEOUT")
    vm_context = args[0].strip() if args else ""
    dial_context = args[1].strip() if len(args) > 1 and args[1].strip() else ""
    if result.isdigit():
        target = dial_context or vm_context or "default"
        if ctx.exists(target, result, 1):
            ctx.jump(target, result, 1)
        ch.variables["DIRECTORY_RESULT"] = "SELECTED"
    elif result.upper() == "OPERATOR":
        target = dial_context or ch.context
        if ctx.exists(target, "o", 1):
            ctx.jump(target, "o", 1)
        ch.variables["DIRECTORY_RESULT"] = "OPERATOR"
    else:
        ch.variables["DIRECTORY_RESULT"] = result.upper()
async def _park_standin(ctx: AppContext, args: list[str]) -> None:
    # A dry run parks nothing: the call would wait in the lot until taken or timed out.
    await ctx.channel.answer()
    ctx.note(f"would park in lot '{(args[0] if args else '') or 'default'}' and wait there")
    ctx.end()


async def _parkedcall_standin(ctx: AppContext, args: list[str]) -> None:
    await ctx.channel.answer()
    ctx.note("would take the call parked at " + ",".join(args) + " (none in a dry run)")
    ctx.end()


_STANDINS: dict[str, AppFunc] = {
    "dial": _dial_standin,
    "voicemail": _voicemail_standin,
    "voicemailmain": _vmmain_standin,
    "queue": _queue_standin,
    "directory": _directory_standin,
    "park": _park_standin,
    "parkedcall": _parkedcall_standin,
}


def trace_call(dialplan: Dialplan, exten: str, *, context: str = "default",
               callerid: str | None = None, variables: dict[str, str] | None = None,
               results: dict[str, str] | None = None, max_steps: int = MAX_STEPS,
               astdb_path: Path | None = None, indications: Any = None) -> list[str]:
    """Dry-run a call to `exten` in `context`; return the trace lines.

    DB() reads the AstDB at `astdb_path` (the PBX's store) when given; what
    the dry run writes there is never saved."""
    return asyncio.run(trace_call_async(dialplan, exten, context=context, callerid=callerid,
                                        variables=variables, results=results,
                                        max_steps=max_steps, astdb_path=astdb_path,
                                        indications=indications))


async def trace_call_async(dialplan: Dialplan, exten: str, *, context: str = "default",
                           callerid: str | None = None,
                           variables: dict[str, str] | None = None,
                           results: dict[str, str] | None = None,
                           max_steps: int = MAX_STEPS,
                           astdb_path: Path | None = None,
                           indications: Any = None) -> list[str]:
    """The coroutine behind trace_call (for callers already in an event loop)."""
    from pbx.astdb import AstDb

    lines: list[str] = []
    ch = TraceChannel(name="Trace/" + (callerid or "anonymous") + "-00000001",
                      context=context, exten=exten,
                      callerid=CallerId(num=callerid or "", name=""),
                      results=results)
    ch.variables.update(variables or {})
    seen: dict[str, str] = dict(ch.variables)

    def report_changes() -> None:
        for k, v in ch.variables.items():
            if seen.get(k) != v:
                lines.append(f"   {k}={v}")
        seen.clear()
        seen.update(ch.variables)

    def tracer(line: str) -> None:
        # Variables changed by the previous step are printed under it.
        report_changes()
        lines.append(line if line.startswith(("[", "--")) else "   " + line)

    def on_step(channel: Channel, step: Step, data: str) -> None:
        ch.start_step(step.app)

    # A dry run never touches mailboxes or queues: VoiceMail and Queue are simulated.
    # Dial runs for real when registered: the TraceChannel answers its dial().
    apps = AppRegistry.builtin()
    apps = apps.with_apps({k: v for k, v in _STANDINS.items() if k != "dial" or k not in apps})
    astdb = AstDb.dry_run(astdb_path)
    services = DialplanServices(apps=apps, astdb=astdb, indications=indications)
    interp = Interpreter(dialplan, services, max_steps=max_steps, tracer=tracer,
                         on_step=on_step)
    if not exists(dialplan, context, exten, callerid, services.clock.time()):
        astdb.close()
        return [f"-- no extension '{exten}' in context '{context}' "
                "(a SIP call would get 404 Not Found)"]
    try:
        result = await interp.run(ch)
    finally:
        astdb.close()
    report_changes()
    if ch.played:
        lines.append("-- prompts played: " + " ".join(ch.played))
    if ch.state is not ChannelState.HUNGUP:
        lines.append("-- still up")
    lines.append(f"-- result: {result.reason}")
    return lines

"""The dialplan interpreter: runs a channel through extensions, priority by priority.

The loop follows Asterisk's __ast_pbx_run:

- find the step at (context, exten, priority): the first matching extension
  that has this priority, in the context then its includes (patterns.find:
  caller-ID matching; timed includes as at the services' clock), substitute
  its arguments, split them, and run the application (an unknown one ends
  the call with a log line naming its file:line:col); after a step that
  wrote to the AstDB, commit it; then go to the next priority unless the
  application jumped (Goto/Gosub), pressed a digit (Background/WaitExten:
  collect an extension, then `i`/`t`), or ended the call (Hangup/Busy/...);
- a jump to an extension that does not exist goes to `i` (with
  INVALID_EXTEN set) when there is one, otherwise the call ends;
- when the priorities run out: with autofallthrough=yes the call ends
  (busy when DIALSTATUS=BUSY, congestion for CONGESTION/CHANUNAVAIL, else a
  normal hangup); with autofallthrough=no it waits TIMEOUT(response) for
  digits as Asterisk does;
- TIMEOUT(absolute) passing sends the call to `T`, or hangs up;
- when the call ends (application hangup, caller hangup, error), the channel
  is hung up and the `h` extension of the current context runs with the
  channel already hung up (media applications raise Hangup at once, which
  ends `h` as in Asterisk).

A call keeps the Dialplan snapshot it started with (channel.dialplan). What
the PBX provides (applications, functions, globals, clock, AstDB, voicemail)
comes from the DialplanServices the interpreter is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from dialplan import patterns
from dialplan.apps import AppContext
from dialplan.services import DialplanServices
from dialplan.substitute import (
    DialplanError,
    Scope,
    split_args,
    substitute,
    substitute_awaiting,
)
from pbx import q850
from pbx.channel import AppError, ChannelState, Hangup

if TYPE_CHECKING:
    from dialplan.model import Dialplan, Step
    from pbx.channel import Channel

log = logging.getLogger(__name__)
# Asterisk's "-- Executing [exten@context:prio] App(...)" lines: `pbx run -vvv`
# shows this logger (pbx.logging_setup), which is off below that.
exec_log = logging.getLogger("dialplan.exec")


def exists(dialplan: Dialplan, context: str, exten: str, callerid: str | None = None,
           now: float | None = None) -> bool:
    """Whether `exten` has a priority 1 in `context` (following includes; timed
    includes as at `now`, every include when None) for this caller."""
    return patterns.find(dialplan, context, exten, callerid, priority=1, now=now) is not None


@dataclass(slots=True)
class RunResult:
    """How a call's dialplan ended."""

    # "hangup": an application ended the call (Hangup, Busy, Congestion, ...)
    # "caller-hangup": the channel went away while an application ran
    # "fell-through": priorities ran out (autofallthrough)
    # "invalid": no such extension and no `i`; "timeout": no `t`/`T` to go to
    # "error": unknown application, bad function, application failure
    # "max-steps": the step limit (trace loop guard) was reached
    reason: str
    cause: int
    context: str
    exten: str
    priority: int
    message: str = ""


class _End(Exception):  # control flow, not an error
    def __init__(self, result: RunResult) -> None:
        self.result = result


class Interpreter:
    """Runs calls through a dialplan. One instance can run many calls.

    `services` is what the PBX provides (applications, functions, globals,
    clock, AstDB, voicemail); without it the interpreter gets a fresh set of
    its own, shared with nobody."""

    def __init__(self, dialplan: Dialplan | None = None,
                 services: DialplanServices | None = None, *,
                 max_steps: int | None = None,
                 tracer: Callable[[str], None] | None = None,
                 on_step: Callable[[Channel, Step, str], None] | None = None) -> None:
        self.dialplan = dialplan
        self.services = services if services is not None else DialplanServices()
        self.max_steps = max_steps
        self.tracer = tracer  # receives one line per step/decision (dialplan trace)
        self.on_step = on_step  # called before each application runs

    # --- helpers used by applications -------------------------------------
    def _emit(self, text: str) -> None:
        if self.tracer is not None:
            self.tracer(text)

    def _now(self) -> float:
        return self.services.clock.time()

    def find_step(self, scope: Scope, context: str, exten: str, priority: int) -> Step | None:
        """The step that runs at (context, exten, priority): the first matching
        extension that has this priority, through the active includes, as
        Asterisk's pbx_find_extension."""
        dp = scope.dialplan
        if dp is None:
            return None
        cid = scope.channel.callerid.num if scope.channel is not None else None
        found = patterns.find(dp, context, exten, cid, priority=priority, now=self._now())
        return None if found is None else found[1].steps[priority]

    def find_label(self, scope: Scope, context: str, exten: str, label: str) -> int | None:
        """The priority of `label` for `exten` in `context` (includes searched), or None."""
        dp = scope.dialplan
        if dp is None:
            return None
        cid = scope.channel.callerid.num if scope.channel is not None else None
        found = patterns.find(dp, context, exten, cid, label=label, now=self._now())
        return None if found is None else found[1].labels[label]

    def resolve_priority(self, scope: Scope, context: str, exten: str, prio: str,
                         current: int = 1) -> int:
        """A priority number from `2`, `+1`, `-1` or a label of the target extension."""
        p = prio.strip()
        if p.isdigit():
            n = int(p)
            if n < 1:
                raise DialplanError(f"Priority '{p}' must be a number > 0, or valid label")
            return n
        if p[:1] in "+-" and p[1:].isdigit():
            n = current + int(p)
            if n < 1:
                raise DialplanError(f"Priority '{p}' must be a number > 0, or valid label")
            return n
        n = self.find_label(scope, context, exten, p)
        if n is None:
            raise DialplanError(
                f"Priority '{p}' must be a number > 0, or valid label "
                f"(no label '{p}' for {exten} in {context} or what it includes)")
        return n

    # --- entry points ------------------------------------------------------
    async def run(self, channel: Channel, context: str | None = None,
                  exten: str | None = None, priority: int | None = None,
                  dialplan: Dialplan | None = None) -> RunResult:
        """Run the channel from (context, exten, priority), by default the
        channel's own; returns how the dialplan ended. Never raises for
        dialplan problems: they are logged and end the call."""
        dp = dialplan or self.dialplan or channel.dialplan
        if dp is None:
            raise ValueError("no dialplan to run")
        channel.dialplan = dp  # the snapshot this call keeps
        if context is not None:
            channel.context = context
        if exten is not None:
            channel.exten = exten
        if priority is not None:
            channel.priority = priority
        services = self.services
        services.load_globals(dp)
        scope = Scope(channel=channel, globals=services.globals, dialplan=dp,
                      interpreter=self, services=services)
        steps = [0]
        try:
            result = await self._loop(channel, scope, steps)
        except _End as e:
            result = e.result
        if channel.state is not ChannelState.HUNGUP:
            await channel.hangup(result.cause or q850.NORMAL_CLEARING)
        if result.reason in ("hangup", "caller-hangup"):
            self._emit(f"-- hung up (cause {channel.hangup_cause or result.cause}) at "
                       f"{result.context},{result.exten},{result.priority}")
        if result.reason != "max-steps":
            await self._run_h(channel, scope, steps)
        return result

    # --- the loop ----------------------------------------------------------
    def _result(self, ch: Channel, reason: str, cause: int | None = None,
                message: str = "") -> RunResult:
        if cause is None:
            cause = ch.hangup_cause or q850.NORMAL_CLEARING
        return RunResult(reason, cause, ch.context, ch.exten, ch.priority, message)

    def _count(self, ch: Channel, steps: list[int]) -> None:
        steps[0] += 1
        if self.max_steps is not None and steps[0] > self.max_steps:
            msg = f"stopped after {self.max_steps} steps (a loop?)"
            self._emit(f"-- {msg}")
            raise _End(self._result(ch, "max-steps", q850.NORMAL_CLEARING, msg))

    def _has(self, scope: Scope, context: str, exten: str) -> bool:
        return self.find_step(scope, context, exten, 1) is not None

    async def _loop(self, ch: Channel, scope: Scope, steps: list[int]) -> RunResult:
        clock = self.services.clock
        while True:
            if scope.absolute_deadline is not None and clock.monotonic() >= scope.absolute_deadline:
                self._absolute_timeout(ch, scope)
            step = self.find_step(scope, ch.context, ch.exten, ch.priority)
            if step is None:
                if not self._has(scope, ch.context, ch.exten):
                    self._invalid(ch, scope, ch.exten)
                else:
                    await self._fell_off(ch, scope)
                continue
            self._count(ch, steps)
            try:
                actx = await self._execute(ch, scope, step)
            except Hangup:
                return self._result(ch, "caller-hangup")
            except TimeoutError:
                # TIMEOUT(absolute) passed while the application ran.
                self._absolute_timeout(ch, scope)
                continue
            if actx.ended:
                return self._result(ch, "hangup", actx.end_cause)
            if actx.jump_to is not None:
                j = actx.jump_to
                ch.context, ch.exten, ch.priority = j.context, j.exten, j.priority
            elif actx.digits is not None:
                try:
                    await self._collect(ch, scope, actx.digits)
                except Hangup:
                    return self._result(ch, "caller-hangup")
            else:
                ch.priority += 1
            if ch.state is ChannelState.HUNGUP:
                return self._result(ch, "caller-hangup")

    async def _execute(self, ch: Channel, scope: Scope, step: Step) -> AppContext:
        services = self.services
        try:
            if services.functions.may_await(step.args):  # ENUMLOOKUP...: DNS
                data = await substitute_awaiting(step.args, scope)
            else:
                data = substitute(step.args, scope)
        except DialplanError as e:
            self._fail(ch, step, f"{e.message} in {step.app}({step.args})")
        app = services.apps.get(step.app)
        if self.tracer is not None:
            self.tracer(f"[{ch.context},{ch.exten},{ch.priority}] {step.app}({data})")
        if exec_log.isEnabledFor(logging.INFO):
            exec_log.info('Executing [%s@%s:%d] %s("%s", "%s") in new stack', ch.exten,
                          ch.context, ch.priority, step.app, ch.name, data)
        if self.on_step is not None:
            self.on_step(ch, step, data)
        if app is None:
            self._fail(ch, step, f"Unknown application '{step.app}'")
        ch.lastapp = step.app
        ch.lastdata = data
        actx = AppContext(channel=ch, scope=scope, interpreter=self, data=data,
                          step=step, app=step.app, services=services)
        args = split_args(data) if data else []
        try:
            if scope.absolute_deadline is not None:
                remaining = max(0.0, scope.absolute_deadline - services.clock.monotonic())
                async with asyncio.timeout(remaining):
                    await app(actx, args)
            else:
                await app(actx, args)
        except (Hangup, TimeoutError):
            raise
        except DialplanError as e:
            self._fail(ch, step, f"{step.app}: {e.message}")
        except AppError as e:
            self._fail(ch, step, f"{step.app}: {e}")
        except Exception as e:
            log.exception("%s: %s crashed", step.app_pos, step.app)
            self._fail(ch, step, f"{step.app} failed: {e!r}")
        finally:
            db = services.astdb
            if db is not None and db.dirty:
                # What the step wrote to the AstDB is committed before the next one runs.
                await db.settle()
        return actx

    def _fail(self, ch: Channel, step: Step, message: str) -> NoReturn:
        log.error("%s: %s (channel %s at %s,%s,%s)", step.app_pos, message, ch.name,
                  ch.context, ch.exten, ch.priority)
        self._emit(f"-- error: {step.app_pos}: {message}")
        raise _End(self._result(ch, "error", q850.NORMAL_CLEARING,
                                f"{step.app_pos}: {message}"))

    def _invalid(self, ch: Channel, scope: Scope, exten: str) -> None:
        """The channel is at an extension that does not exist: `i` or the end."""
        if exten not in ("i", "h") and self._has(scope, ch.context, "i"):
            scope.variables["INVALID_EXTEN"] = exten
            self._emit(f"-- invalid extension '{exten}' in {ch.context}: going to i")
            ch.exten, ch.priority = "i", 1
            return
        msg = f"no extension '{exten}' in context '{ch.context}' (and no 'i')"
        log.warning("%s: %s", ch.name, msg)
        self._emit(f"-- {msg}")
        raise _End(self._result(ch, "invalid", q850.UNALLOCATED, msg))

    def _absolute_timeout(self, ch: Channel, scope: Scope) -> None:
        scope.absolute_deadline = None
        if self._has(scope, ch.context, "T"):
            self._emit("-- absolute timeout: going to T")
            ch.exten, ch.priority = "T", 1
            return
        self._emit("-- absolute timeout: hanging up")
        raise _End(self._result(ch, "timeout", q850.NORMAL_CLEARING, "absolute timeout"))

    async def _fell_off(self, ch: Channel, scope: Scope) -> None:
        dp = scope.dialplan
        assert dp is not None
        if not dp.autofallthrough:
            # Asterisk: wait TIMEOUT(response) for the caller to dial an extension.
            digit = await ch.wait_digit(scope.response_timeout) if scope.response_timeout else None
            await self._collect(ch, scope, digit or "")
            return
        status = scope.variables.get("DIALSTATUS", "").upper()
        msg = f"fell off the end of {ch.context},{ch.exten}"
        if status == "BUSY":
            await ch.busy()
            cause = q850.USER_BUSY
        elif status in ("CONGESTION", "CHANUNAVAIL"):
            await ch.congestion()
            cause = q850.CONGESTION
        else:
            cause = q850.NORMAL_CLEARING
        self._emit(f"-- {msg}" + (f" (DIALSTATUS={status})" if status else ""))
        raise _End(self._result(ch, "fell-through", cause, msg))

    async def _collect(self, ch: Channel, scope: Scope, digits: str) -> None:
        """Collect an extension that starts with `digits` (digit timeout between
        digits while more could match), then go to it, to `i`, or to `t`."""
        dp = scope.dialplan
        assert dp is not None
        if digits:
            while patterns.find_can_match_more(dp, ch.context, digits, self._now()):
                d = await ch.wait_digit(scope.digit_timeout)
                if d is None:
                    break
                digits += d
        if digits and self._has(scope, ch.context, digits):
            self._emit(f"-- dialed '{digits}': going to {ch.context},{digits},1")
            ch.exten, ch.priority = digits, 1
            return
        if digits:
            self._invalid(ch, scope, digits)
            return
        if self._has(scope, ch.context, "t"):
            self._emit("-- response timeout: going to t")
            ch.exten, ch.priority = "t", 1
            return
        msg = f"timeout, but no 't' in context '{ch.context}'"
        log.warning("%s: %s", ch.name, msg)
        self._emit(f"-- {msg}")
        raise _End(self._result(ch, "timeout", q850.NORMAL_CLEARING, msg))

    async def _run_h(self, ch: Channel, scope: Scope, steps: list[int]) -> None:
        """Run the `h` extension of the current context, the channel hung up."""
        if ch.exten == "h" or not self._has(scope, ch.context, "h"):
            return
        self._emit(f"-- running h in {ch.context}")
        ch.exten, ch.priority = "h", 1
        scope.absolute_deadline = None
        try:
            while True:
                step = self.find_step(scope, ch.context, ch.exten, ch.priority)
                if step is None:
                    return
                self._count(ch, steps)
                actx = await self._execute(ch, scope, step)
                if actx.ended:
                    return
                if actx.jump_to is not None:
                    j = actx.jump_to
                    ch.context, ch.exten, ch.priority = j.context, j.exten, j.priority
                else:
                    ch.priority += 1
        except (Hangup, _End, TimeoutError):
            # As in Asterisk, an application that fails in `h` ends it.
            return


async def run(channel: Channel, dialplan: Dialplan, context: str | None = None,
              exten: str | None = None, priority: int = 1,
              services: DialplanServices | None = None) -> RunResult:
    """Run a channel through a dialplan (a one-off Interpreter)."""
    return await Interpreter(dialplan, services).run(channel, context, exten, priority)

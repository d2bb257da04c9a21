"""Directory([vm-context[,dial-context[,options]]]): the company directory (app_directory.c).

The caller spells a name on the keypad and hears who matches; the names
are voicemail.conf's (`6001 => 1234,Alice Smith,...`), found by last name
(default, option `l(n)`), first name (`f(n)`) or either (`b(n)`); `n` is how
many letters to type (3). Each match is announced by the name the mailbox
owner recorded (VoiceMailMain 0-3), else spelled letter by letter, and
with `e` its extension too; then "press 1 for this person, * for the next"
(dir-instr). With `m` up to eight matches are offered at once ("press 1 for
..."). Selecting continues at `exten,1` of dial-context (the voicemail
context when not given), as Asterisk does; with `s` it only sets
DIRECTORY_EXTEN. 0 goes to the `o` extension and * to `a` when they exist
(dial-context, else the current context). `a` also matches the mailbox's
`alias=` option; `p(ms)` waits before the first name (for keypads on
cell phones); `n` reads without answering. The prompts are Asterisk's
(dir-welcome, dir-pls-enter, dir-last, dir-usingkeypad, dir-instr,
dir-nomatch, dir-nomore, dir-multi1/2/9, vm-extension), or
voicemail.conf's `directoryintro=` instead of the opening ones.

DIRECTORY_RESULT says how it ended: SELECTED, OPERATOR, ASSISTANT, TIMEOUT,
USEREXIT (# at a name), HANGUP or FAILED (the selected extension does not
exist: the call ends there, as Asterisk's Directory returns -1).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialplan.apps import AppContext, register
from dialplan.apps.background import DTMF
from pbx import say
from pbx.channel import AppError, ChannelState, Hangup
from voicemail.deposit import parse_options
from voicemail.directory import DirectoryEntry, search

MENU_SIZE = 8  # names offered at once with `m`
FIRST_DIGIT_WAIT = 5.0  # after the opening prompts (ast_waitfordigit 5000)
NEXT_DIGIT_WAIT = 3.0  # between the letters typed (ast_readstring 3000)
CHOICE_WAIT = 3.0  # after dir-instr or the menu
MENU_GAP = 0.8  # between two names of the menu
REPEATS = 3  # a name is offered this many times before the next one


class _Failed(Exception):
    """The selected extension does not exist (Asterisk's -1)."""


@dataclass
class _Search:
    """One Directory() call: its options and where it is."""

    ctx: AppContext
    vm_context: str
    dial_context: str
    letters: int
    last: bool
    first: bool
    options: dict[str, str]

    # --- playing and reading -------------------------------------------------
    async def play(self, prompts: list[str]) -> str:
        """ast_stream_and_wait(..., AST_DIGIT_ANY) for each: the digit that cut them, or ""."""
        return await self.ctx.channel.play(prompts, interrupt=DTMF) if prompts else ""

    async def wait(self, seconds: float) -> str:
        return await self.ctx.channel.wait_digit(seconds) or ""

    async def owner(self, entry: DirectoryEntry) -> str:
        """Say who this is: the recorded name, else the name spelled; `e`: the extension."""
        boxes = self.ctx.voicemail().mailboxes
        recorded = boxes.greeting(entry.context, entry.exten, "greet")
        if recorded is not None:
            digit = await self.play([str(recorded.with_suffix(""))])
        else:
            digit = await self.play(say.characters(entry.name or entry.exten))
        if not digit and "e" in self.options:
            digit = await self.play(["vm-extension", *say.characters(entry.exten)])
        return digit

    # --- where it goes ---------------------------------------------------------
    def goto_if_exists(self, context: str, exten: str) -> bool:
        if self.ctx.exists(context, exten, 1):
            self.ctx.jump(context, exten, 1)
            return True
        return False

    def special(self, exten: str, result: str) -> None:
        """0 (operator) and * (assistant): their extension, where the dialplan has it."""
        ch = self.ctx.channel
        context = self.dial_context or ch.context
        if not self.goto_if_exists(context, exten):
            self.ctx.note(f"Directory: no extension '{exten}' in {context}")
        ch.variables["DIRECTORY_RESULT"] = result

    def select(self, entry: DirectoryEntry) -> None:
        ch = self.ctx.channel
        context = self.dial_context or entry.context
        if "s" in self.options:
            ch.variables["DIRECTORY_EXTEN"] = entry.exten
        elif not self.goto_if_exists(context, entry.exten):
            raise _Failed(f"Directory: {entry.name} is extension '{entry.exten}', which "
                          f"context '{context}' does not have (is dial-context right?)")
        ch.variables["DIRECTORY_RESULT"] = "SELECTED"
        self.ctx.note(f"Directory: selected {entry.name} -> {context},{entry.exten},1")

    # --- the search ------------------------------------------------------------------
    async def run(self, digit: str) -> str | None:
        """do_directory: the caller pressed `digit`; None when Directory is done, else
        the digit pressed during "no (more) match" ("" for none) to start again with."""
        if digit in "0*":
            exten, result = ("o", "OPERATOR") if digit == "0" else ("a", "ASSISTANT")
            context = self.dial_context or self.ctx.channel.context
            if self.ctx.exists(context, exten, 1):
                self.special(exten, result)
                return None
        typed = digit
        while len(typed) < self.letters:
            d = await self.wait(NEXT_DIGIT_WAIT)
            if not d or d == "#":
                break
            typed += d
        found = search(self.ctx.voicemail().config, self.vm_context, typed, last=self.last,
                       first=self.first, alias="a" in self.options)
        self.ctx.note(f"Directory: '{typed}' matches "
                      f"{', '.join(e.name for e in found) or 'nobody'}")
        if not found:
            return await self.play(["dir-nomatch"])
        if "m" in self.options:
            done = await self.menu(found)
        else:
            done = await self.one_by_one(found)
        if done:
            return None
        return await self.play(["dir-nomore"])

    async def pause(self) -> str:
        """p(ms): a moment for the caller to put the phone back to the ear (<= 3 s)."""
        text = self.options.get("p", "")
        if "p" not in self.options or not text.strip().isdigit():
            return ""
        return await self.wait(min(int(text), 3000) / 1000)

    async def one_by_one(self, found: list[DirectoryEntry]) -> bool:
        """select_item_seq: each name, "1 to select, * for the next"; True when done."""
        ch = self.ctx.channel
        res = await self.pause()
        for entry in found:
            for _ in range(REPEATS):
                if not res:
                    res = await self.owner(entry)
                if not res:
                    res = await self.play(["dir-instr"])
                if not res:
                    res = await self.wait(CHOICE_WAIT)
                if res == "0":
                    self.special("o", "OPERATOR")
                    return True
                if res == "1":
                    self.select(entry)
                    return True
                if res == "*":
                    res = ""
                    break
                if res == "#":
                    ch.variables["DIRECTORY_RESULT"] = "USEREXIT"
                    return True
                res = ""
            res = ""
        return False

    async def menu(self, found: list[DirectoryEntry]) -> bool:
        """select_item_menu: up to eight names at once, "press N for ..."; True when done."""
        await self.pause()
        for start in range(0, len(found), MENU_SIZE):
            block = found[start:start + MENU_SIZE]
            res = ""
            for i, entry in enumerate(block):
                res = await self.play(["dir-multi1", f"digits/{i + 1}", "dir-multi2"])
                if not res:
                    res = await self.owner(entry)
                if not res:
                    res = await self.wait(MENU_GAP)
                if res:
                    break
            if not res and start + MENU_SIZE < len(found):
                res = await self.play(["dir-multi9"])
            if not res:
                res = await self.wait(CHOICE_WAIT)
            if res.isdigit() and 1 <= int(res) <= len(block):
                self.select(block[int(res) - 1])
                return True
        return False


def _letters(options: dict[str, str], flag: str) -> int:
    text = options.get(flag, "").strip()
    n = int(text) if text.isdigit() else 3
    return 9 if n > 9 else (3 if n < 1 else n)


@register("Directory")
async def directory(ctx: AppContext, args: list[str]) -> None:
    """Search voicemail.conf's names by keypad; see the module docstring."""
    ch = ctx.channel
    ch.check_hangup()
    vm_context = args[0].strip() if args else ""
    dial_context = args[1].strip() if len(args) > 1 else ""
    options = parse_options(args[2] if len(args) > 2 else "")
    config = ctx.voicemail().config  # AppError when voicemail is not configured
    first = "f" in options or "b" in options
    last = "l" in options or "b" in options or not first
    if first and last:
        letters, which = _letters(options, "b"), "dir-firstlast"
    elif first:
        letters, which = _letters(options, "f"), "dir-first"
    else:
        letters, which = _letters(options, "l"), "dir-last"
    session = _Search(ctx, vm_context, dial_context, letters, last, first, options)
    intro = config.general.directoryintro
    try:
        if ch.state is not ChannelState.UP and "n" not in options:
            await ch.answer()
        res = ""
        while True:
            if not res:
                opening = [intro] if intro else [
                    "dir-welcome", "dir-pls-enter", f"digits/{letters}", which,
                    "dir-usingkeypad"]
                res = await session.play(opening)
            if not res:
                res = await session.wait(FIRST_DIGIT_WAIT)
            if not res:
                ch.variables["DIRECTORY_RESULT"] = "TIMEOUT"
                return
            again = await session.run(res)
            if again is None:
                return
            res = again
    except Hangup:
        ch.variables["DIRECTORY_RESULT"] = "HANGUP"
        raise
    except _Failed as exc:
        ch.variables["DIRECTORY_RESULT"] = "FAILED"
        raise AppError(str(exc)) from exc

"""queue_log records in Asterisk's format, so queue reporting tools read them.

A line is `epoch|callid|queuename|agent|event|data1|data2|...` (logger.c
ast_queue_log): callid is the caller's channel uniqueid (`NONE`, `CLI`,
`MANAGER` for member changes without a call), agent the member name (`NONE`
when no member is involved). The events and their data are app_queue.c's:

| event | data |
|---|---|
| ENTERQUEUE | url, caller id number, original position [, caller id name] |
| CONNECT | hold time, member channel uniqueid, ring time |
| COMPLETECALLER, COMPLETEAGENT | hold time, call time, original position |
| BLINDTRANSFER | extension, context, hold time, call time, original position |
| ABANDON, EXITEMPTY, EXITWITHTIMEOUT | position, original position, wait time |
| EXITWITHKEY | key, position, original position, wait time |
| RINGNOANSWER, RINGCANCELED | milliseconds rung |
| AGENTDUMP | (empty) |
| ADDMEMBER | PAUSED or empty |
| REMOVEMEMBER | (empty) |
| PAUSE, UNPAUSE, PAUSEALL, UNPAUSEALL | reason |
| QUEUESTART | (empty) |

The store keeps each record (pbx.store `queue_log`); `pbx queue log` prints them as
Asterisk's queue_log file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueLogRecord:
    queue: str
    callid: str
    agent: str
    event: str
    data: tuple[str, ...] = ()

    def data_text(self) -> str:
        return "|".join(self.data)

    def line(self, epoch: float) -> str:
        """The queue_log file line (without newline)."""
        return f"{int(epoch)}|{self.callid}|{self.queue}|{self.agent}|{self.event}|" \
            f"{self.data_text()}"


def format_row(row: dict) -> str:
    """A stored row (time, callid, queuename, agent, event, data) as a file line."""
    return f"{int(row['time'])}|{row['callid']}|{row['queuename']}|{row['agent']}|" \
        f"{row['event']}|{row['data']}"


def clean(text: str) -> str:
    """A field for the log: `|` would split it (Asterisk writes `_` for it in names)."""
    return text.replace("|", "_").replace("\n", " ")

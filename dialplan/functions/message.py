"""MESSAGE() and MESSAGE_DATA() (func_message in Asterisk's message.c).

On a message channel (a SIP MESSAGE being routed, pbx.messaging) they read the
message: `${MESSAGE(to)}`, `${MESSAGE(from)}`, `${MESSAGE(body)}`, and
`${MESSAGE_DATA(X-Header)}` one of its headers. Writing them
(`Set(MESSAGE(body)=...)`) changes the message, or starts one on a call's
channel, for `MessageSend()` to send. Reading a message that is not there
is an error, as in Asterisk ("No message data found on channel").
"""

from __future__ import annotations

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope

_FIELDS = {"to": "to", "from": "from_", "body": "body"}


def _message(scope: Scope, create: bool = False):  # type: ignore[no-untyped-def]
    ch = scope.channel
    if ch is None:
        raise DialplanError("MESSAGE: no channel")
    if ch.message is None:
        if not create:
            raise DialplanError("No message data found on channel")
        from pbx.messaging import TextMessage  # the dialplan reads pbx lazily

        ch.message = TextMessage()
    return ch.message


def _field(args: str) -> str:
    name = args.strip().lower()
    if name not in _FIELDS:
        raise DialplanError(f"MESSAGE: unknown field {args.strip()!r} (use to, from, body)")
    return _FIELDS[name]


@function("MESSAGE")
def _message_read(scope: Scope, args: str) -> str:
    return str(getattr(_message(scope), _field(args)))


@writer("MESSAGE")
def _message_write(scope: Scope, args: str, value: str) -> None:
    setattr(_message(scope, create=True), _field(args), value)


@function("MESSAGE_DATA")
def _message_data_read(scope: Scope, args: str) -> str:
    name = args.strip().lower()
    if not name:
        raise DialplanError("MESSAGE_DATA requires a name, e.g. MESSAGE_DATA(X-Priority)")
    return _message(scope).data.get(name, "")


@writer("MESSAGE_DATA")
def _message_data_write(scope: Scope, args: str, value: str) -> None:
    name = args.strip().lower()
    if not name:
        raise DialplanError("MESSAGE_DATA requires a name, e.g. MESSAGE_DATA(X-Priority)")
    msg = _message(scope, create=True)
    if value:
        msg.data[name] = value
    else:
        msg.data.pop(name, None)

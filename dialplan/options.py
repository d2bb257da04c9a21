"""Application options as Asterisk parses them (ast_app_parse_options).

`tTm(jazz)r` -> {"t": None, "T": None, "m": "jazz", "r": None}: each letter is
an option (case matters), optionally followed by its argument in parentheses
(nested parentheses are kept whole: `b(sub^s^1(arg))`). A letter given twice
keeps the last one.
"""

from __future__ import annotations


def parse_options(text: str) -> dict[str, str | None]:
    """Letters -> their argument (None when given without one)."""
    out: dict[str, str | None] = {}
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c.isspace() or c in "()":
            continue
        arg = None
        if i < n and text[i] == "(":
            depth, j = 1, i + 1
            while j < n and depth:
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                j += 1
            arg = text[i + 1:j - 1] if depth == 0 else text[i + 1:]
            i = j
        out[c] = arg
    return out

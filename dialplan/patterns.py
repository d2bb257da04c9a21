"""Extension patterns: parsing, Asterisk's sort order, and an indexed matcher.

Asterisk keeps each context's extensions sorted (pbx.c `ext_cmp`): every literal
extension before every pattern, and patterns compared element by element,
where an element's weight is (number of characters it matches, lowest
character) -- so a literal digit beats `N` (8 chars) beats `Z` (9) beats `X`
(10), a smaller `[...]` set beats a larger one, then `.` then `!`, and a
pattern that ends sorts after one that goes on. The first extension in that
order that matches the dialled string wins; extensions with a caller-ID match
sort just before the same extension without one.

Instead of scanning that sorted list, `ContextIndex` keeps the literals in a
dict and the patterns in a trie whose edges are pattern elements (one
character, or one character set), with each node's edges sorted by that same
weight. A depth-first walk over the dialled string, visiting edges in order,
meets the matching patterns in Asterisk's order, so the first hit is the
answer and the cost depends on the number's length, not the context's size.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

from dialplan.model import Context, Dialplan, Extension

__all__ = [
    "SPECIAL_EXTENSIONS",
    "ContextIndex",
    "PatternError",
    "build_indexes",
    "compile_pattern",
    "context_index",
    "extension_matches",
    "find",
    "find_can_match_more",
    "pattern_error",
    "pattern_sort_key",
    "sorted_extensions",
]

# Element weights, as pbx.c ext_cmp_pattern_pos() computes them.
_DOT = 0x18000  # '.': one or more of anything
_BANG = 0x28000  # '!': zero or more, and "early match"
_END = 0x30000  # end of the pattern
_BAD = 0x40000  # malformed element: sorts last, never matches

SPECIAL_EXTENSIONS = frozenset({"s", "i", "t", "h", "e", "o", "a", "T"})

_DIGITS = frozenset("0123456789")
_CLASSES = {
    "X": frozenset("0123456789"),
    "Z": frozenset("123456789"),
    "N": frozenset("23456789"),
}


class PatternError(ValueError):
    """A pattern that Asterisk would warn about and never match (e.g. an unclosed `[`)."""


@dataclass(frozen=True, slots=True)
class Element:
    """One step of a pattern: a single character, a set of characters, `.` or `!`."""

    kind: str  # "char", "set", "dot", "bang"
    chars: frozenset[str]  # the characters matched ("char" and "set")
    key: tuple[int, int]  # Asterisk's weight, then the tie-break over the set

    def __repr__(self) -> str:
        if self.kind in ("dot", "bang"):
            return "." if self.kind == "dot" else "!"
        if self.kind == "char":
            return next(iter(self.chars))
        return "[" + "".join(sorted(self.chars)) + "]"


def _set_key(chars: frozenset[str]) -> tuple[int, int]:
    # pbx.c: weight = count << 8 | lowest char; equal weights are ordered by a
    # bitmap where lower characters are more significant, larger bitmap first.
    lowest = min(ord(c) for c in chars)
    bitmap = 0
    for c in chars:
        bitmap |= 1 << (255 - min(ord(c), 255))
    return ((len(chars) << 8) | lowest, -bitmap)


@cache
def _element(chars: frozenset[str]) -> Element:
    # Cached: the same few sets (X, N, Z, each digit) recur in every pattern.
    return Element("char" if len(chars) == 1 else "set", chars, _set_key(chars))


_DOT_EL = Element("dot", frozenset(), (_DOT, 0))
_BANG_EL = Element("bang", frozenset(), (_BANG, 0))


@lru_cache(maxsize=65536)
def compile_pattern(name: str) -> tuple[Element, ...]:
    """The elements of a `_` pattern (without the underscore); raises PatternError.

    `-` and spaces outside `[...]` are ignored (Asterisk treats them as
    eye-candy separators); X, Z, N are case-insensitive; inside brackets
    `a-z` is a range and every other character (`,` included) stands for itself.
    """
    body = name[1:] if name.startswith("_") else name
    out: list[Element] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        up = c.upper()
        if c in " -":
            i += 1
            continue
        if up in _CLASSES:
            out.append(_element(_CLASSES[up]))
        elif c == ".":
            out.append(_DOT_EL)
        elif c == "!":
            out.append(_BANG_EL)
        elif c == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise PatternError(f"unclosed '[' in pattern {name!r}")
            inner = body[i + 1 : end]
            chars: set[str] = set()
            j = 0
            while j < len(inner):
                if j + 2 < len(inner) and inner[j + 1] == "-":
                    lo, hi = ord(inner[j]), ord(inner[j + 2])
                    chars.update(chr(x) for x in range(lo, hi + 1))
                    j += 3
                else:
                    chars.add(inner[j])
                    j += 1
            if not chars:
                raise PatternError(f"empty character set '[]' in pattern {name!r}")
            out.append(_element(frozenset(chars)))
            i = end
        else:
            out.append(_element(frozenset(c)))
        i += 1
    return tuple(out)


def pattern_error(name: str) -> str | None:
    """Why `name` is not a usable pattern, or None when it is fine (literals are fine)."""
    if not name.startswith("_"):
        return None
    try:
        els = compile_pattern(name)
    except PatternError as exc:
        return str(exc)
    if not els:
        return f"empty pattern {name!r}"
    return None


def pattern_sort_key(name: str) -> tuple[int, tuple[tuple[int, int], ...] | str]:
    """Sort key putting extension names in Asterisk's order (as `dialplan show` lists them).

    Literals first (compared as strings, ignoring `-`), then patterns from most
    to least specific.
    """
    if not name.startswith("_"):
        return (0, name.replace("-", ""))
    try:
        els = compile_pattern(name)
    except PatternError:
        return (1, (((_BAD, 0)),))
    return (1, (*(e.key for e in els), (_END, 0)))


def _ext_sort_key(ext: Extension) -> tuple[object, ...]:
    # Same name: caller-ID matching variants first, ordered among themselves.
    if ext.cid_match is None:
        return (pattern_sort_key(ext.name), 1, ())
    return (pattern_sort_key(ext.name), 0, pattern_sort_key(ext.cid_match))


def sorted_extensions(ctx: Context) -> list[Extension]:
    """A context's extensions in Asterisk's match order."""
    return sorted(ctx.extensions.values(), key=_ext_sort_key)


@lru_cache(maxsize=4096)
def _pattern_regex(name: str) -> re.Pattern[str] | None:
    """A regex for one pattern (caller-ID matches, one-off checks); None if malformed."""
    if not name.startswith("_"):
        return re.compile(re.escape(name.replace("-", "")))
    try:
        els = compile_pattern(name)
    except PatternError:
        return None
    parts: list[str] = []
    for e in els:
        if e.kind == "dot":
            parts.append(".+")
            break  # Asterisk ignores whatever follows '.' or '!'
        if e.kind == "bang":
            parts.append(".*")
            break
        if e.kind == "char":
            parts.append(re.escape(next(iter(e.chars))))
        else:
            parts.append("[" + "".join(re.escape(c) for c in sorted(e.chars)) + "]")
    return re.compile("".join(parts), re.S)


def extension_matches(pattern: str, exten: str) -> bool:
    """Whether one extension name or `_pattern` matches the dialled string `exten`."""
    rx = _pattern_regex(pattern)
    return rx is not None and rx.fullmatch(exten.replace("-", "")) is not None


def _cid_ok(cid_pattern: str | None, callerid: str | None) -> bool:
    # pbx.c matchcid(): no caller ID only matches an empty caller-ID pattern.
    if cid_pattern is None:
        return True
    if not callerid:
        return cid_pattern == ""
    return extension_matches(cid_pattern, callerid)


class _Node:
    """A trie node: outgoing element edges plus the patterns that end here."""

    __slots__ = ("bang", "dispatch", "dot", "end", "lit", "sets", "skip")

    def __init__(self) -> None:
        # Literal characters consumed on entering this node: chains of nodes
        # with a single literal edge are merged (see _compress), so a fixed
        # prefix like "9011" costs one startswith() instead of four lookups.
        self.skip = ""
        # Buckets start as None (not []): a 10,000-pattern trie has ~40,000 nodes.
        self.lit: dict[str, _Node] = {}
        self.sets: list[tuple[tuple[int, int], frozenset[str], _Node]] | None = None  # by key
        self.dot: list[Extension] | None = None
        self.bang: list[Extension] | None = None
        self.end: list[Extension] | None = None
        # char -> children to try, in order (lit first, then matching sets); built lazily
        self.dispatch: dict[str, tuple[_Node, ...]] | None = None

    def children(self, ch: str) -> tuple[_Node, ...]:
        """The nodes to descend into for character `ch`, most specific first."""
        if self.dispatch is None:
            self.dispatch = {}
        got = self.dispatch.get(ch)
        if got is None:
            nodes: list[_Node] = []
            lit = self.lit.get(ch)
            if lit is not None:
                nodes.append(lit)
            if self.sets:
                nodes.extend(node for _key, chars, node in self.sets if ch in chars)
            got = self.dispatch[ch] = tuple(nodes)
        return got

    def child_for(self, el: Element) -> _Node:
        if el.kind == "char":
            ch = next(iter(el.chars))
            node = self.lit.get(ch)
            if node is None:
                node = self.lit[ch] = _Node()
            return node
        if self.sets is None:
            self.sets = []
        for key, _chars, node in self.sets:
            if key == el.key:
                return node
        node = _Node()
        self.sets.append((el.key, el.chars, node))
        self.sets.sort(key=lambda t: t[0])
        return node


def _compress(root: _Node) -> None:
    """Merge chains of pass-through nodes (one literal edge, nothing else) into `skip`."""
    stack = [root]
    while stack:
        node = stack.pop()
        for ch, child in list(node.lit.items()):
            node.lit[ch] = child = _collapse(child)
            stack.append(child)
        if node.sets:
            node.sets = [(key, chars, _collapse(child)) for key, chars, child in node.sets]
            stack.extend(child for _k, _c, child in node.sets)


def _collapse(node: _Node) -> _Node:
    while (
        len(node.lit) == 1
        and node.sets is None
        and node.dot is None
        and node.bang is None
        and node.end is None
    ):
        ((ch, child),) = node.lit.items()
        child.skip = node.skip + ch + child.skip
        node = child
    return node


def _pick(bucket: list[Extension], callerid: str | None, priority: int | None = None,
          label: str | None = None) -> Extension | None:
    # The first extension of the bucket (already in match order) whose caller-ID
    # match fits and, when asked, which has the priority or the label: Asterisk
    # looks for the priority in every matching extension in turn.
    for ext in bucket:
        if ext.cid_match is not None and not _cid_ok(ext.cid_match, callerid):
            continue
        if priority is not None and priority not in ext.steps:
            continue
        if label is not None and label not in ext.labels:
            continue
        return ext
    return None


class ContextIndex:
    """The extensions of one context, indexed for Asterisk-ordered matching."""

    __slots__ = ("_bad", "_literal_keys", "_literals", "_root", "context")

    def __init__(self, context: Context) -> None:
        self.context = context
        self._literals: dict[str, list[Extension]] = {}
        self._root = _Node()
        self._bad: list[Extension] = []  # malformed patterns: listed, never matched
        for ext in sorted_extensions(context):
            if not ext.is_pattern:
                self._literals.setdefault(ext.name.replace("-", ""), []).append(ext)
                continue
            try:
                els = compile_pattern(ext.name)
            except PatternError:
                self._bad.append(ext)
                continue
            node = self._root
            bucket: list[Extension] | None = None
            for el in els:
                if el.kind == "dot":
                    if node.dot is None:
                        node.dot = []
                    bucket = node.dot
                    break
                if el.kind == "bang":
                    if node.bang is None:
                        node.bang = []
                    bucket = node.bang
                    break
                node = node.child_for(el)
            if bucket is None:
                if node.end is None:
                    node.end = []
                bucket = node.end
            # sorted_extensions() order is kept, so each bucket is already in match order.
            bucket.append(ext)
        _compress(self._root)
        self._literal_keys = sorted(self._literals)

    def match(self, exten: str, callerid: str | None = None, priority: int | None = None,
              label: str | None = None) -> Extension | None:
        """The extension Asterisk would run for `exten` (and caller ID), or None.

        With `priority` (or `label`), the first matching extension, in
        Asterisk's order, that has that priority (or label): `exten => 1234,1,...`
        does not hide `_X.,50000(stdexten)` from a jump to priority 50000."""
        if "-" in exten:
            exten = exten.replace("-", "")
        bucket = self._literals.get(exten)
        if bucket is not None:
            ext = _pick(bucket, callerid, priority, label)
            if ext is not None:
                return ext
        return self._walk(self._root, exten, 0, len(exten), callerid, priority, label)

    def _walk(self, node: _Node, s: str, i: int, n: int, callerid: str | None,
              priority: int | None, label: str | None) -> Extension | None:
        skip = node.skip
        if skip:
            if not s.startswith(skip, i):
                return None
            i += len(skip)
        # Nodes with nothing but literal edges offer no alternative to try
        # later: follow them without recursing.
        while i < n and node.sets is None and node.dot is None and node.bang is None:
            node = node.lit.get(s[i])  # type: ignore[assignment]
            if node is None:
                return None
            i += 1
            skip = node.skip
            if skip:
                if not s.startswith(skip, i):
                    return None
                i += len(skip)
        if i == n:
            # At the end of the number: '!' (zero more) sorts before a plain end.
            if node.bang:
                ext = _pick(node.bang, callerid, priority, label)
                if ext is not None:
                    return ext
            if node.end:
                return _pick(node.end, callerid, priority, label)
            return None
        for child in node.children(s[i]):
            ext = self._walk(child, s, i + 1, n, callerid, priority, label)
            if ext is not None:
                return ext
        if node.dot:
            ext = _pick(node.dot, callerid, priority, label)
            if ext is not None:
                return ext
        if node.bang:
            return _pick(node.bang, callerid, priority, label)
        return None

    def matches_exactly(self, exten: str, callerid: str | None = None) -> bool:
        """Whether some extension matches `exten` as dialled (Asterisk's E_MATCH)."""
        return self.match(exten, callerid) is not None

    def can_match_more(self, exten: str) -> bool:
        """Whether more digits could still make a match (E_MATCHMORE, for WaitExten/overlap).

        As in Asterisk, a pattern ending in `!` that already matches is an
        "early match": it answers no, so the caller stops waiting for digits.
        """
        if "-" in exten:
            exten = exten.replace("-", "")
        keys = self._literal_keys
        i = bisect.bisect_left(keys, exten)
        if i < len(keys) and keys[i] == exten:
            i += 1
        if i < len(keys) and keys[i].startswith(exten):
            return True
        return bool(self._more(self._root, exten, 0, len(exten)))

    def _more(self, node: _Node, s: str, i: int, n: int) -> bool | None:
        # None: no decision on this path; True/False: the first pattern in order decided.
        skip = node.skip
        if skip:
            if n - i < len(skip):
                # the number ends inside a fixed run: more digits could follow it
                return True if skip.startswith(s[i:]) else None
            if not s.startswith(skip, i):
                return None
            i += len(skip)
        if i == n:
            if node.lit or node.sets or node.dot:
                return True
            if node.bang:
                return False
            return None
        for child in node.children(s[i]):
            got = self._more(child, s, i + 1, n)
            if got is not None:
                return got
        if node.dot:
            return True
        if node.bang:
            return False
        return None

    def can_match(self, exten: str, callerid: str | None = None) -> bool:
        """Whether `exten` matches now or could with more digits (E_CANMATCH)."""
        return self.match(exten, callerid) is not None or self.can_match_more(exten)

    def malformed(self) -> list[Extension]:
        """Patterns that could not be compiled (they never match)."""
        return list(self._bad)

    def __iter__(self) -> Iterator[Extension]:
        return iter(sorted_extensions(self.context))


def context_index(dp: Dialplan, context: str) -> ContextIndex | None:
    """The index of `context` in `dp` (built on first use and kept on the
    Dialplan, which never changes once built), or None if there is no such context."""
    indexes = dp.indexes
    idx = indexes.get(context)
    if idx is None:
        ctx = dp.contexts.get(context)
        if ctx is None:
            return None
        idx = indexes[context] = ContextIndex(ctx)
    return idx


def build_indexes(dp: Dialplan) -> None:
    """Index every context now (at load time) instead of on first use."""
    for name in dp.contexts:
        context_index(dp, name)


MAX_INCLUDE_DEPTH = 128  # Asterisk's AST_PBX_MAX_STACK


def find(
    dp: Dialplan, context: str, exten: str, callerid: str | None = None, *,
    priority: int | None = None, label: str | None = None, now: float | None = None,
) -> tuple[Context, Extension] | None:
    """Find `exten` from `context` the way Asterisk's pbx_find_extension does:
    the context's own extensions first, then each `include =>` in order, depth
    first; a context already searched is not searched again (include loops end
    there).

    With `priority` or `label`, an extension only counts when it has that
    priority or label, so the search goes on into the includes: this is how
    `Gosub(${EXTEN},stdexten(...))` reaches `_X.,50000(stdexten)` in an
    included context although the calling context has its own `${EXTEN}`.
    A timed include is searched only when `now` (epoch seconds) matches its
    time spec; with `now=None` every include is searched (checks, tools)."""
    seen: set[str] = set()

    def search(name: str, depth: int) -> tuple[Context, Extension] | None:
        if name in seen or depth > MAX_INCLUDE_DEPTH:
            return None
        seen.add(name)
        idx = context_index(dp, name)
        if idx is None:
            return None
        ext = idx.match(exten, callerid, priority, label)
        if ext is not None:
            return idx.context, ext
        for inc in idx.context.includes:
            if inc.timing is not None and not inc.active(now):
                continue
            got = search(inc.context, depth + 1)
            if got is not None:
                return got
        return None

    return search(context, 0)


def find_can_match_more(dp: Dialplan, context: str, exten: str,
                        now: float | None = None) -> bool:
    """`can_match_more` across `context` and its (active) includes (WaitExten, overlap)."""
    seen: set[str] = set()
    stack = [context]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        idx = context_index(dp, name)
        if idx is None:
            continue
        if idx.can_match_more(exten):
            return True
        stack.extend(reversed([inc.context for inc in idx.context.includes
                               if inc.timing is None or inc.active(now)]))
    return False

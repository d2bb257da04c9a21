"""Reader for Asterisk-style ``.conf`` files (sip.conf, voicemail.conf).

Sections with templates (``[name](!)``, ``[name](tmpl1,tmpl2)``, ``[name](+)``),
``key=value`` and ``key => value`` lines, ``;`` comments with ``\\;`` escapes,
and ``#include``. Every key keeps its position so errors can say
``file:line:col``. extensions.conf has its own lark grammar (dialplan/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pbx.diagnostics import Diagnostic


@dataclass(slots=True)
class Entry:
    key: str
    value: str
    file: str
    line: int
    col: int  # column of the key
    value_col: int  # column of the value
    arrow: bool = False  # written as `key => value`

    def diag(self, message: str, *, on_value: bool = True, severity: str = "error") -> Diagnostic:
        """A diagnostic pointing at this entry's value (or key)."""
        col = self.value_col if on_value else self.col
        return Diagnostic(self.file, self.line, col, message, severity)


@dataclass(slots=True)
class Section:
    name: str
    file: str
    line: int
    col: int
    is_template: bool = False
    templates: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """Last value written for `key` (case-insensitive), like Asterisk."""
        key = key.lower()
        for entry in reversed(self.entries):
            if entry.key == key:
                return entry.value
        return default

    def entry(self, key: str) -> Entry | None:
        key = key.lower()
        for entry in reversed(self.entries):
            if entry.key == key:
                return entry
        return None


@dataclass(slots=True)
class ConfFile:
    sections: list[Section] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        for section in self.sections:
            if section.name == name:
                return section
        return None


def strip_comment(line: str) -> str:
    """Remove a `;` comment, keeping `\\;` as a literal semicolon."""
    if ";" not in line:
        return line
    out: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out)


def read_conf(path: str | Path, diagnostics: list[Diagnostic]) -> ConfFile:
    """Read a .conf file (and its #includes); problems go to `diagnostics`."""
    conf = ConfFile()
    _read_into(Path(path), conf, diagnostics, stack=[])
    _apply_templates(conf, diagnostics)
    return conf


def _read_into(path: Path, conf: ConfFile, diagnostics: list[Diagnostic],
               stack: list[Path], at: tuple[str, int, int] | None = None) -> None:
    resolved = path.resolve()
    if resolved in stack:
        file, line, col = at or (str(path), 1, 1)
        diagnostics.append(Diagnostic(file, line, col, f"#include cycle: {path} includes itself"))
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        file, line, col = at or (str(path), 1, 1)
        diagnostics.append(Diagnostic(file, line, col, f"cannot read {path}: {exc.strerror}"))
        return
    conf.files.append(str(path))
    current: Section | None = conf.sections[-1] if conf.sections else None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = strip_comment(raw).rstrip()
        stripped = line.lstrip()
        if not stripped:
            continue
        col = len(line) - len(stripped) + 1
        if stripped.startswith("#include") or stripped.startswith("#tryinclude"):
            target = stripped.split(None, 1)[1].strip().strip('"<>') if " " in stripped else ""
            if not target:
                diagnostics.append(Diagnostic(str(path), lineno, col, "#include needs a file name"))
                continue
            inc = Path(target) if Path(target).is_absolute() else path.parent / target
            if stripped.startswith("#tryinclude") and not inc.exists():
                continue
            _read_into(inc, conf, diagnostics, [*stack, resolved], (str(path), lineno, col))
            current = conf.sections[-1] if conf.sections else current
            continue
        if stripped.startswith("["):
            current = _parse_header(stripped, str(path), lineno, col, conf, diagnostics)
            continue
        if current is None:
            diagnostics.append(Diagnostic(str(path), lineno, col,
                                          "setting outside any [section]"))
            continue
        entry = _parse_entry(line, stripped, str(path), lineno, col)
        if entry is None:
            diagnostics.append(Diagnostic(str(path), lineno, col,
                                          f"expected 'key = value', got {stripped!r}"))
            continue
        current.entries.append(entry)


def _parse_header(text: str, file: str, lineno: int, col: int, conf: ConfFile,
                  diagnostics: list[Diagnostic]) -> Section | None:
    close = text.find("]")
    if close < 0:
        diagnostics.append(Diagnostic(file, lineno, col + len(text),
                                      "section name is missing its closing ']'"))
        return None
    name = text[1:close].strip()
    if not name:
        diagnostics.append(Diagnostic(file, lineno, col, "empty section name"))
        return None
    rest = text[close + 1:].strip()
    section = Section(name, file, lineno, col)
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            diagnostics.append(Diagnostic(file, lineno, col + close + 1,
                                          f"unexpected text after section name: {rest!r}"))
        else:
            options = [o.strip() for o in rest[1:-1].split(",") if o.strip()]
            for option in options:
                if option == "!":
                    section.is_template = True
                elif option == "+":
                    existing = conf.section(name)
                    if existing is None:
                        diagnostics.append(Diagnostic(file, lineno, col,
                                                      f"[{name}](+) appends to a section "
                                                      "that does not exist"))
                    else:
                        return existing
                else:
                    section.templates.append(option)
    conf.sections.append(section)
    return section


def _parse_entry(line: str, stripped: str, file: str, lineno: int, col: int) -> Entry | None:
    eq = stripped.find("=")
    if eq <= 0:
        return None
    arrow = stripped.startswith(">", eq + 1)
    key = stripped[:eq].strip().lower()
    value_start = eq + (2 if arrow else 1)
    raw_value = stripped[value_start:]
    value = raw_value.strip()
    value_col = col + value_start + (len(raw_value) - len(raw_value.lstrip())) if value else \
        col + value_start
    if not key:
        return None
    return Entry(key, value, file, lineno, col, value_col, arrow)


def _apply_templates(conf: ConfFile, diagnostics: list[Diagnostic]) -> None:
    """Prepend template entries so a section's own values win (last write wins).

    As in Asterisk, a template must be defined before the sections using it, so
    by the time it is used its own templates are already expanded."""
    seen: dict[str, Section] = {}
    for section in conf.sections:
        inherited: list[Entry] = []
        for name in section.templates:
            template = seen.get(name)
            if template is None:
                diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                              f"[{section.name}] uses template '{name}' "
                                              "which is not defined above it"))
                continue
            inherited.extend(template.entries)
        section.entries[:0] = inherited
        seen[section.name] = section

"""Configuration problems reported as ``file:line:col: message``."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Added to a loadable error when `pbx run` starts with it anyway.
LOADED_ANYWAY = "loaded anyway, as Asterisk does; `pbx check` and `pbx run --strict` refuse it"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a configuration file (line and col are 1-based)."""

    file: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" stops start-up; "warning" is only printed
    # An error Asterisk loads anyway (an unknown application in one extension,
    # an include of a missing context, ...): `pbx check` and `pbx run --strict`
    # report it as an error, `pbx run` starts with a warning and only the calls
    # that reach it fail.
    loadable: bool = False

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"

    def tolerated(self) -> Diagnostic:
        """This diagnostic as `pbx run` reports a loadable error: a warning."""
        if not (self.loadable and self.severity == "error"):
            return self
        return replace(self, severity="warning", message=f"{self.message} ({LOADED_ANYWAY})")


def tolerate(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Loadable errors turned into warnings (what `pbx run` without --strict accepts)."""
    return [d.tolerated() for d in diagnostics]


class ConfigError(Exception):
    """Raised when configuration has errors; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

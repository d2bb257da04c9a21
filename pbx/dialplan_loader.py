"""Load extensions.conf and check it against everything else the PBX knows.

Beyond the dialplan's own checks: every peer's `context=` must exist, and
prompts named by Playback/Background must be somewhere on the sounds path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pbx.diagnostics import Diagnostic

# Applications whose first argument is a prompt list (`a&b&c`).
_PROMPT_APPS = {"playback", "background", "controlplayback"}


def load_dialplan(config_dir: Path, config: Any, diagnostics: list[Diagnostic]) -> Any:
    """Parse and check extensions.conf; diagnostics are appended."""
    from dialplan.apps import known_apps
    from dialplan.check import check_dialplan
    from dialplan.functions import known_functions, writable_functions
    from dialplan.parser import parse_dialplan

    path = config_dir / "extensions.conf"
    if not path.exists():
        diagnostics.append(Diagnostic(str(path), 1, 1, "extensions.conf not found"))
        return None
    dialplan, problems = parse_dialplan(path, config_dir=config_dir)
    diagnostics.extend(problems)
    diagnostics.extend(check_dialplan(dialplan, known_apps=known_apps(),
                                      known_functions=known_functions(),
                                      writable_functions=writable_functions()))
    for peer in config.sip.peers.values():
        if peer.can_call and peer.context not in dialplan.contexts:
            # Asterisk loads it; that peer's calls find no extension (404).
            diagnostics.append(Diagnostic(peer.file, peer.line, 1,
                                          f"peer [{peer.name}] uses context '{peer.context}' "
                                          "which extensions.conf does not define",
                                          loadable=True))
    diagnostics.extend(_missing_prompts(dialplan, config))
    return dialplan


def _missing_prompts(dialplan: Any, config: Any) -> list[Diagnostic]:
    from pbx.media.prompts import PromptLibrary, default_path

    settings = config.settings
    library = PromptLibrary(settings.sounds_path or default_path(_repo_root()),
                            settings.language)
    out = []
    for context in dialplan.contexts.values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                if step.app.lower() not in _PROMPT_APPS:
                    continue
                first = _first_arg(step.args)
                for name in first.split("&"):
                    name = name.strip()
                    if not name or "${" in name or "$[" in name:
                        continue
                    if not library.exists(name):
                        out.append(Diagnostic(step.app_pos.file, step.app_pos.line,
                                              step.app_pos.col,
                                              f"prompt '{name}' not found in "
                                              f"{', '.join(library.searched(name)) or 'no folder'}",
                                              "warning"))
    return out


def _first_arg(args: str) -> str:
    return re.split(r"(?<!\\),", args, maxsplit=1)[0]


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)

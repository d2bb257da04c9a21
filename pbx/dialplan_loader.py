"""Load extensions.conf and check it against everything else the PBX knows.

Beyond the dialplan's own checks: every peer's `context=` must exist,
prompts named by Playback/Background must be somewhere on the sounds path, and
`Dial(SIP/x)`, `Dial(PJSIP/x)` and hints must name a sip.conf peer or a
pjsip.conf endpoint.
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
    from dialplan.apps import known_apps, load_all
    from dialplan.check import check_dialplan
    from dialplan.functions import known_functions
    from dialplan.parser import parse_dialplan

    path = config_dir / "extensions.conf"
    if not path.exists():
        diagnostics.append(Diagnostic(str(path), 1, 1, "extensions.conf not found"))
        return None
    dialplan, problems = parse_dialplan(path, config_dir=config_dir)
    diagnostics.extend(problems)
    load_all()
    diagnostics.extend(check_dialplan(dialplan, known_apps=known_apps(),
                                      known_functions=known_functions()))
    for peer in config.sip.peers.values():
        if peer.can_call and peer.context not in dialplan.contexts:
            diagnostics.append(Diagnostic(peer.file, peer.line, 1,
                                          f"peer [{peer.name}] uses context '{peer.context}' "
                                          "which extensions.conf does not define"))
    diagnostics.extend(_missing_prompts(dialplan, config))
    diagnostics.extend(_unknown_sip_targets(dialplan, config.sip.peers))
    return dialplan


_SIP_TECHS = {"sip", "pjsip"}


def sip_target_peer(part: str) -> tuple[str, str] | None:
    """`SIP/peer`, `SIP/peer/EXTEN`, `PJSIP/EXTEN@endpoint` -> (tech, peer name);
    None for another technology or a name built from variables."""
    tech, slash, rest = part.strip().partition("/")
    if not slash or tech.lower() not in _SIP_TECHS or "${" in rest or "$[" in rest:
        return None
    if "/" in rest:
        rest = rest.split("/", 1)[0]
    elif "@" in rest:
        rest = rest.split("@", 1)[1]
    return tech.upper(), rest.strip()


def _unknown_sip_targets(dialplan: Any, peers: dict[str, Any]) -> list[Diagnostic]:
    """Dial(SIP/x) / Dial(PJSIP/x) and hints naming a peer or endpoint nobody defines."""
    out = []

    def check(text: str, pos: Any, what: str) -> None:
        for part in text.split("&"):
            found = sip_target_peer(part)
            if found is None or found[1] in peers:
                continue
            tech, name = found
            kind = "endpoint" if tech == "PJSIP" else "peer"
            out.append(Diagnostic(pos.file, pos.line, pos.col,
                                  f"{what} {part.strip()}: no {kind} '{name}' in sip.conf or "
                                  "pjsip.conf", "warning"))

    for context in dialplan.contexts.values():
        for extension in context.extensions.values():
            if extension.hint and extension.pos is not None:
                check(extension.hint, extension.pos, "hint")
            for step in extension.steps.values():
                if step.app.lower() == "dial":
                    check(_first_arg(step.args), step.app_pos, "Dial target")
    return out


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

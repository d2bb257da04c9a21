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

# Applications naming a prompt list (`a&b&c`) -> the argument that holds it.
_PROMPT_APPS = {"playback": 0, "background": 0, "controlplayback": 0, "read": 1}


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
    parking = getattr(config, "parking", None)
    if parking is not None:  # res_parking.conf's lots add their extensions (parkedcalls)
        from pbx.parking_conf import add_parking_extensions

        add_parking_extensions(dialplan, parking, diagnostics)
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
    diagnostics.extend(_unknown_sip_targets(dialplan, config.sip.peers))
    diagnostics.extend(_local_and_moh_references(dialplan, getattr(config, "moh", None)))
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
                    check(_arg(step.args, 0), step.app_pos, "Dial target")
    return out


def _local_and_moh_references(dialplan: Any, moh: Any) -> list[Diagnostic]:
    """Dial(Local/exten@context) naming no extension, and music-on-hold classes
    (MusicOnHold, StartMusicOnHold, Dial's m(class)) musiconhold.conf does not
    define: warnings (Asterisk fails that Local leg, or plays `default`)."""
    from dialplan.interpreter import exists
    from dialplan.options import parse_options
    from pbx.local_channel import parse_local

    out = []
    classes = set(moh.classes) if moh is not None else None

    def fixed(text: str) -> bool:
        return bool(text) and "${" not in text and "$[" not in text

    def check_class(name: str, pos: Any, where: str) -> None:
        if classes is not None and fixed(name) and name not in classes:
            out.append(Diagnostic(pos.file, pos.line, pos.col,
                                  f"{where}: no music-on-hold class '{name}' in "
                                  "musiconhold.conf (default plays instead)", "warning"))

    for context in dialplan.contexts.values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                app, pos = step.app.lower(), step.app_pos
                if app in ("musiconhold", "startmusiconhold"):
                    check_class(_arg(step.args, 0).strip(), pos, step.app)
                if app != "dial":
                    continue
                m = parse_options(_arg(step.args, 2)).get("m")
                if m:
                    check_class(m.strip(), pos, "Dial option m")
                for part in _arg(step.args, 0).split("&"):
                    tech, _, rest = part.strip().partition("/")
                    if tech.lower() != "local" or not fixed(rest):
                        continue
                    dest = parse_local(rest)
                    if not exists(dialplan, dest.context, dest.exten):
                        out.append(Diagnostic(pos.file, pos.line, pos.col,
                                              f"Dial target {part.strip()}: no extension "
                                              f"'{dest.exten}' in context '{dest.context}'",
                                              "warning"))
    return out


def _missing_prompts(dialplan: Any, config: Any) -> list[Diagnostic]:
    """Every prompt the dialplan names must be found and decodable (a WAV with
    random bytes or an MP3 renamed .wav is an error naming the file, not a
    traceback at call time); config.prompts gets (name, file, seconds) of each."""
    from pbx.media.prompts import PromptLibrary, default_path
    from pbx.media.wav import WavError

    settings = config.settings
    library = PromptLibrary(settings.sounds_path or default_path(_repo_root()),
                            settings.language)
    out = []
    decoded: dict[str, float | str] = {}  # file -> seconds, or the error
    checked: list[tuple[str, str, float]] = []
    for context in dialplan.contexts.values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                app = step.app.lower()
                if app not in _PROMPT_APPS:
                    continue
                if app == "read" and "i" in _arg(step.args, 3):
                    continue  # a tone of indications.conf (pbx.ivr_checks looks at it)
                names = _arg(step.args, _PROMPT_APPS[app])
                for name in names.split("&"):
                    name = name.strip()
                    if not name or "${" in name or "$[" in name:
                        continue
                    pos = step.app_pos
                    file = library.find(name)
                    if file is None:
                        out.append(Diagnostic(pos.file, pos.line, pos.col,
                                              f"prompt '{name}' not found in "
                                              f"{', '.join(library.searched(name)) or 'no folder'}",
                                              "warning"))
                        continue
                    if file not in decoded:
                        try:
                            pcm = library.pcm(name)
                            decoded[file] = len(pcm or b"") / 16000
                            checked.append((name, file, decoded[file]))
                        except (WavError, ValueError, OSError) as exc:
                            decoded[file] = str(exc) if file in str(exc) else f"{file}: {exc}"
                    result = decoded[file]
                    if isinstance(result, str):
                        out.append(Diagnostic(pos.file, pos.line, pos.col,
                                              f"prompt '{name}' cannot be played: {result}"))
                    elif result == 0:
                        out.append(Diagnostic(pos.file, pos.line, pos.col,
                                              f"prompt '{name}' ({file}) holds no audio",
                                              "warning"))
    if hasattr(config, "prompts"):
        config.prompts = checked
    return out


def _arg(args: str, index: int) -> str:
    parts = re.split(r"(?<!\\),", args)
    return parts[index] if len(parts) > index else ""


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)

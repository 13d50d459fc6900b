"""Generate the prompt audio of the catalogue with espeak-ng (Mandarin voice).

``python -m ivr.prompt_audio [flows_dir] [--force]`` writes each missing
``flows/prompts/<file>`` as 8 kHz mono 16-bit WAV (what Asterisk plays without
transcoding to narrow-band trunks). The hold music entry gets a short, quiet
synthesised chime instead of speech. Needs ``espeak-ng`` and ``sox``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ivr.prompts import load_prompts

HOLD_IDS = {"hold_music"}


def _speak(text: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", "cmn", "-s", "200", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "silence", "1", "0.05", "0.5%", "reverse", "silence", "1", "0.05", "0.5%", "reverse", "norm", "-3"], check=True)


def _chime(out: Path) -> None:
    notes = ["523.25", "659.25", "783.99", "659.25", "587.33", "698.46", "880", "698.46"]
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for i, f in enumerate(notes):
            p = Path(tmp) / f"n{i}.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(p), "synth", "0.7", "sine", f,
                            "fade", "q", "0.05", "0.7", "0.3", "vol", "0.25"], check=True)
            parts.append(str(p))
        subprocess.run(["sox", *parts, str(out)], check=True)


def generate(flows_dir: Path, force: bool = False) -> list[Path]:
    prompts_dir = flows_dir / "prompts"
    prompts_dir.mkdir(parents=True, exist_ok=True)
    catalog, errors = load_prompts(flows_dir / "prompts.yaml", prompts_dir, check_files=False)
    for e in errors:
        print(e, file=sys.stderr)
    written = []
    for pid, entry in catalog.entries.items():
        out = prompts_dir / entry.file
        if out.exists() and not force:
            continue
        if pid in HOLD_IDS:
            _chime(out)
        else:
            _speak(entry.text, out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    args = [a for a in args if a != "--force"]
    for p in generate(Path(args[0] if args else "flows"), force):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

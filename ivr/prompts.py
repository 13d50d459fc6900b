"""The prompt catalogue (flows/prompts.yaml): id -> Mandarin text + audio file.

Flows reference prompts by id only. The audio files live under the prompts
directory (flows/prompts/); Asterisk's ``STREAM FILE`` takes the path
without the extension, which :meth:`PromptCatalog.playable` gives.
A catalogue entry whose audio file is missing is a validation error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ivr.loader import FlowError, Located, load_model
from ivr.schema import PromptCatalogFile, PromptEntry


@dataclass(frozen=True)
class PromptCatalog:
    entries: Mapping[str, PromptEntry]
    prompts_dir: Path
    names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # computed once: the engine's hot path only looks names up
        base = os.path.abspath(self.prompts_dir)
        names = {}
        for pid, e in self.entries.items():
            stem, ext = os.path.splitext(e.file)
            names[pid] = stem if os.path.isabs(stem) else os.path.join(base, stem)
        object.__setattr__(self, "names", MappingProxyType(names))

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.entries

    def text(self, prompt_id: str) -> str:
        return self.entries[prompt_id].text

    def playable(self, prompt_id: str) -> str:
        """The name STREAM FILE / GET DATA take: absolute path without extension."""
        return self.names[prompt_id]

    @classmethod
    def empty(cls, prompts_dir: Path = Path("flows/prompts")) -> "PromptCatalog":
        return cls(MappingProxyType({}), prompts_dir)


def load_prompts(path: Path, prompts_dir: Path, check_files: bool = True) -> tuple[PromptCatalog, list[FlowError]]:
    """Load flows/prompts.yaml; a missing audio file is an error at its ``file:`` line."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return PromptCatalog.empty(prompts_dir), [FlowError(file, 1, 1, f"cannot read: {exc.strerror}")]
    model, located, errors = load_model(PromptCatalogFile, text, file)
    if model is None:
        return PromptCatalog.empty(prompts_dir), errors
    assert located is not None
    if check_files:
        errors += _missing_files(model, located, prompts_dir)
    return PromptCatalog(MappingProxyType(dict(model.prompts)), prompts_dir), errors


def _missing_files(model: PromptCatalogFile, located: Located, prompts_dir: Path) -> list[FlowError]:
    out = []
    for pid, entry in model.prompts.items():
        if not (prompts_dir / entry.file).is_file():
            out.append(located.error(("prompts", pid, "file"),
                                     f"prompt '{pid}': audio file '{entry.file}' is missing in {prompts_dir}"))
    return out

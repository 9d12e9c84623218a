"""Generators behind one protocol (see ``base.py``), registered explicitly.

``GENERATORS`` maps a name to a :class:`GeneratorInfo` (its module, class, whether it
needs an LLM, one line of help). Modules are imported on first use so the LLM-free
generators never load the LLM layer.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from .base import PROVENANCE, CancelToken, Generation, Generator

__all__ = [
    "GENERATORS",
    "GeneratorInfo",
    "get_generator",
    "needs_llm",
    "Generation",
    "Generator",
    "CancelToken",
    "PROVENANCE",
    "available_generators",
]


class GeneratorInfo(NamedTuple):
    """What the registry knows about a generator without importing it."""

    module: str
    cls: str
    needs_llm: bool
    help: str


GENERATORS: dict[str, GeneratorInfo] = {
    "statistical": GeneratorInfo(
        "statistical",
        "StatisticalGenerator",
        False,
        "Gaussian copula per rule region; offline; the default (best measured with teacher labels).",
    ),
    "jitter": GeneratorInfo(
        "jitter",
        "JitterGenerator",
        False,
        "Perturbed real rows inside each rule; fastest, offline; pair with relabel.",
    ),
    "date": GeneratorInfo(
        "date",
        "DATEGenerator",
        True,
        "DATE: rule-guided LLM generation with decision-tree feedback and rule refinement.",
    ),
    "samplellm": GeneratorInfo(
        "samplellm",
        "SampleLLMGenerator",
        True,
        "SampleLLM: K-medoids exemplars, LLM few-shot, importance-sampling alignment.",
    ),
    "htdbu": GeneratorInfo(
        "htdbu",
        "HTDBUGenerator",
        True,
        "H-TDBU: LLM rule skeleton, conditioned statistical generators, TSTR/TVD feedback.",
    ),
    "structsynth": GeneratorInfo(
        "structsynth",
        "StructSynthGenerator",
        True,
        "StructSynth: LLM-proposed dependency DAG, generation in topological order.",
    ),
}


def get_generator(name: str):
    """The generator class registered under ``name``."""
    from ..errors import InvalidParameterError

    if name not in GENERATORS:
        raise InvalidParameterError(f"unknown generator {name!r}; choose one of {', '.join(GENERATORS)}.")
    module, cls = GENERATORS[name].module, GENERATORS[name].cls
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        raise InvalidParameterError(f"generator {name!r} is not available in this build ({exc}).") from exc
    return getattr(mod, cls)


def needs_llm(name: str) -> bool:
    """Whether the generator registered under ``name`` writes through an LLM (False for unknown names)."""
    info = GENERATORS.get(name)
    return bool(info and info.needs_llm)


def available_generators() -> list[str]:
    """Names whose module imports in this installation."""
    out = []
    for name in GENERATORS:
        try:
            get_generator(name)
        except Exception:  # noqa: BLE001 - a generator that fails to import is simply not offered
            continue
        out.append(name)
    return out

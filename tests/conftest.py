"""Shared fixtures: bundled samples, shared data sets (skipped when absent), small tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .fault_servers import fault_server  # noqa: F401 - the fault-server fixture, for every test module

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SYNTH_SHARED_DATA", ROOT.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    """Path of a shared benchmark file; the test is skipped when ../shared is absent."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared data set {name} not found under {SHARED} (set SYNTH_SHARED_DATA)")
    return path


def shared_manifest() -> list[dict]:
    path = SHARED / "manifest.json"
    if not path.exists():
        pytest.skip(f"shared data sets not found under {SHARED}")
    return json.loads(path.read_text())


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """300 rows: numeric, integer, categorical, boolean, missing cells, a binary target."""
    rng = np.random.default_rng(0)
    n = 300
    x0 = rng.uniform(0, 1, n)
    cat = rng.choice(["red", "green", "blue"], n)
    age = rng.integers(18, 80, n)
    flag = rng.random(n) < 0.3
    y = np.where((x0 > 0.5) & (cat != "blue"), "yes", "no")
    frame = pd.DataFrame({"x0": x0, "color": cat, "age": age, "flag": flag, "y": y})
    frame.loc[rng.choice(n, 15, replace=False), "x0"] = np.nan
    return frame


@pytest.fixture
def bank_sample():
    from synth_core.data import load_dataset
    from synth_core.samples import sample_path

    return load_dataset(sample_path("bank_marketing_3k.csv"), target="Class", seed=0)


@pytest.fixture
def adult_sample():
    from synth_core.data import load_dataset
    from synth_core.samples import sample_path

    return load_dataset(sample_path("adult_3k.csv"), target="income", seed=0)

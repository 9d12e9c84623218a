"""The augmentation benchmark's report arithmetic (``benchmarks/augment.py``): noise and coverage readings."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def augment():
    spec = importlib.util.spec_from_file_location("bench_augment", ROOT / "benchmarks" / "augment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(given, product, hidden_se, kept=100, low=-0.1, high=0.1):
    verdict = {"change": (low + high) / 2, "low": low, "high": high}
    return {
        "models": {
            "tree": {
                "given": given,
                "product": product,
                "hidden_se": hidden_se,
                "kept": kept,
                "verdict": verdict,
            }
        }
    }


def test_paired_worse_pools_the_seeds_test_noise(augment):
    cells = [_cell(20.0, 21.0, 0.03), _cell(10.0, 10.0, 0.04)]  # +5% and 0%; se 3% and 4%
    change, se = augment.paired_worse(cells, "tree")
    assert change == pytest.approx(2.5)
    assert se == pytest.approx(math.sqrt(3.0**2 + 4.0**2) / 2)  # 2.5: the +2.5% is within 1.96 se


def test_expected_coverage_of_an_exact_interval(augment):
    half = 0.1
    se_v = half / 1.96
    no_rows = _cell(20.0, 20.0, 0.0, kept=0, low=0.0, high=0.0)
    exact_test = _cell(20.0, 19.0, 0.0, low=-half, high=half)  # a hidden change without test noise: 95%
    noisy_test = _cell(
        20.0, 19.0, se_v, low=-half, high=half
    )  # as noisy as the interval: P(|Z| <= 1.96/sqrt 2)
    assert augment.expected_coverage([no_rows], "tree") == pytest.approx(1.0)
    assert augment.expected_coverage([exact_test], "tree") == pytest.approx(0.95, abs=1e-3)
    assert augment.expected_coverage([noisy_test], "tree") == pytest.approx(0.834, abs=1e-3)
    assert augment.expected_coverage([no_rows, exact_test, noisy_test], "tree") == pytest.approx(
        2.784, abs=3e-3
    )

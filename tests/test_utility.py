import numpy as np
import pandas as pd
import pytest

from synth_core.data import load_dataset, make_dataset
from synth_core.errors import DataError
from synth_core.evaluation.utility import augmentation_utility, tstr

from .conftest import shared_dataset


def test_copies_of_train_change_little_and_noise_labels_hurt(mixed_frame):
    ds = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    none = augmentation_utility(ds, None, seeds=(0, 1))
    assert none["relative_change"] == 0.0 and none["parameters"]["n_synthetic"] == 0
    flipped = ds.train.copy()
    flipped["y"] = np.where(flipped["y"] == "yes", "no", "yes")
    bad = augmentation_utility(ds, pd.concat([flipped] * 3), seeds=(0, 1))
    assert bad["augmented"]["mean"] > bad["baseline"]["mean"]
    assert bad["metric"] == "error_rate" and len(bad["baseline"]["scores"]) == 2


def test_regression_and_tstr(mixed_frame):
    ds = make_dataset(mixed_frame.assign(t=mixed_frame["age"] * 3.0), target="t", seed=0, protocol="paper")
    res = augmentation_utility(ds, ds.train.sample(50, random_state=0), seeds=(0,))
    assert res["metric"] == "mse"
    t = tstr(ds, ds.train, seeds=(0,))
    assert t["score"] == pytest.approx(t["real"]["mean"])
    empty = tstr(ds, ds.train.head(1), seeds=(0,))
    assert np.isnan(empty["score"])


def test_missing_columns(mixed_frame):
    ds = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    with pytest.raises(DataError, match="lack column"):
        augmentation_utility(ds, ds.train.drop(columns=["x0"]))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, target, paper",
    [
        ("electricity.csv.gz", "class", 0.14),
        ("MagicTelescope.csv.gz", "class", 0.21),
        ("heloc.csv.gz", "RiskPerformance", 0.38),
    ],
)
def test_real_only_error_matches_baselines_order_of_magnitude(name, target, paper):
    ds = load_dataset(shared_dataset(name), target=target, seed=0, protocol="paper")
    res = augmentation_utility(ds, None, seeds=(0,))
    assert paper / 2 < res["baseline"]["mean"] < paper * 1.5


def test_utility_can_score_on_validation_rows_only(mixed_frame):
    from dataclasses import replace

    ds = make_dataset(mixed_frame, target="y", seed=0, protocol="paper")
    on_val = augmentation_utility(ds, ds.train.head(30), seeds=(0,), on="val")
    poisoned = mixed_frame.copy()
    poisoned.loc[ds.test_idx, "y"] = "no"
    again = augmentation_utility(replace(ds, frame=poisoned), ds.train.head(30), seeds=(0,), on="val")
    assert on_val["baseline"] == again["baseline"] and on_val["parameters"]["scored_on"] == "validation"
    with pytest.raises(DataError, match="on must be"):
        augmentation_utility(ds, None, on="train")

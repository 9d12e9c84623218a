"""Augmentation utility and TSTR.

Augmentation utility trains the same model on the real rows given to the
product (the train split; under cross-fitting every row not held out for test)
and on them plus synthetic rows, scores both on the test split (error rate for
classification, MSE for regression) over several model seeds, and reports mean,
std and the relative change (negative = the synthetic rows helped). The layout
follows SDMetrics' data-augmentation metric: ``baseline``, ``augmented``,
``parameters`` and ``score``.

TSTR (train on synthetic, test on real) trains on synthetic rows alone.

The test split is touched only here, for the final score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import concat_rows
from ..encoding import align_frame
from ..errors import DataError
from ..models import resolve_model, row_losses

__all__ = ["augmentation_utility", "tstr", "prepare_synthetic"]


def _metric_name(task: str) -> str:
    return "error_rate" if task == "classification" else "mse"


def prepare_synthetic(dataset, synthetic: pd.DataFrame | None) -> pd.DataFrame:
    """Synthetic rows with the real columns and dtypes, rows without a target dropped.

    Raises
    ------
    DataError
        When feature or target columns are missing from the synthetic rows.
    """
    cols = dataset.features + [dataset.target]
    if synthetic is None or len(synthetic) == 0:
        return dataset.train.iloc[:0][cols]
    missing = [c for c in cols if c not in synthetic.columns]
    if missing:
        raise DataError(f"synthetic rows lack column(s) {missing}; they must have the real table's columns.")
    out = align_frame(synthetic, dataset.train, dataset.features)
    y = synthetic[dataset.target]
    real_y = dataset.train[dataset.target]
    if pd.api.types.is_numeric_dtype(real_y):
        y = pd.to_numeric(y, errors="coerce")
    out[dataset.target] = y.to_numpy()
    return out[out[dataset.target].notna()]


def _fit_score(dataset, train: pd.DataFrame, model, seed: int, on: str = "test") -> float:
    rows = dataset.val if on == "val" else dataset.test
    return float(
        np.mean(
            row_losses(
                dataset.schema,
                dataset.features,
                dataset.task,
                train,
                rows,
                dataset.target,
                model=model,
                random_state=seed,
            )
        )
    )


def _stats(scores: list[float]) -> dict:
    arr = np.asarray(scores, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=0)), "scores": [float(s) for s in arr]}


def augmentation_utility(
    dataset,
    synthetic: pd.DataFrame | None,
    *,
    model=None,
    seeds=(0, 1, 2, 3, 4),
    train: pd.DataFrame | None = None,
    on: str = "test",
) -> dict:
    """Real-only vs real + synthetic, same model and test rows, over model seeds.

    Parameters
    ----------
    dataset : Dataset
    synthetic : DataFrame or None
        Rows with the real columns (extra columns are ignored).
    model : estimator, optional
        Defaults to a decision tree (DATE's evaluation model); cloned per seed.
    seeds : iterable of int
        ``random_state`` of the model for each repetition.
    train : DataFrame, optional
        Real training rows to use instead of ``dataset.train`` (e.g. train+val).
    on : {'test', 'val'}
        Rows that score the models. Use ``'val'`` whenever the figure guides a choice of rows
        (the Compare page): the test split is for the final score only.

    Returns
    -------
    dict
        ``{"score", "metric", "baseline", "augmented", "relative_change", "parameters"}``; ``score``
        is the relative change of the mean (negative is better).
    """
    real = dataset.train if train is None else train
    real = real[dataset.features + [dataset.target]]
    syn = prepare_synthetic(dataset, synthetic)
    augmented = concat_rows([real, syn], ignore_index=True) if len(syn) else real
    if on not in ("test", "val"):
        raise DataError(f"on must be 'test' or 'val', not {on!r}.")
    base = _stats([_fit_score(dataset, real, model, s, on) for s in seeds])
    aug = _stats([_fit_score(dataset, augmented, model, s, on) for s in seeds]) if len(syn) else dict(base)
    rel = (aug["mean"] - base["mean"]) / base["mean"] if base["mean"] > 0 else 0.0
    return {
        "score": float(rel),
        "metric": _metric_name(dataset.task),
        "baseline": base,
        "augmented": aug,
        "relative_change": float(rel),
        "parameters": {
            "model": resolve_model(model).name,
            "seeds": list(seeds),
            "n_real": int(len(real)),
            "n_synthetic": int(len(syn)),
            "scored_on": "validation" if on == "val" else "test",
        },
    }


def tstr(dataset, synthetic: pd.DataFrame, *, model=None, seeds=(0, 1, 2)) -> dict:
    """Train on synthetic rows only, test on the real test split; compared with train-on-real.

    Returns ``{"score", "metric", "real", "synthetic", "parameters"}`` where ``score`` is the
    synthetic mean (lower is better). An empty or single-class synthetic set scores NaN.
    """
    syn = prepare_synthetic(dataset, synthetic)
    real = dataset.train[dataset.features + [dataset.target]]
    base = _stats([_fit_score(dataset, real, model, s) for s in seeds])
    usable = len(syn) >= 2 and (dataset.task != "classification" or syn[dataset.target].nunique() >= 2)
    res = (
        _stats([_fit_score(dataset, syn, model, s) for s in seeds])
        if usable
        else {"mean": float("nan"), "std": float("nan"), "scores": []}
    )
    return {
        "score": res["mean"],
        "metric": _metric_name(dataset.task),
        "real": base,
        "synthetic": res,
        "parameters": {"seeds": list(seeds), "n_synthetic": int(len(syn))},
    }

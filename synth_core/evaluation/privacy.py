"""Privacy: are synthetic rows too close to the real rows they were made from?

Rows are encoded with the shared
:class:`~synth_core.encoding.RowEncoder` fitted on the real
(training) rows, and distances are Euclidean in that space.

- :class:`DistanceToClosestRecord` (DCR) — each synthetic row's distance to its
  nearest training row, compared with the same distance for *holdout* real rows
  that the generator never saw. The score is the share of synthetic rows at
  least as close to the training rows as the holdout's ``quantile`` (5th
  percentile by default) DCR: about ``quantile`` for a generator that does not
  copy, towards 1 for one that memorises.
- :class:`NearestNeighbourDistanceRatio` (NNDR) — distance to the nearest
  training row over distance to the second nearest; near 0 means a synthetic
  row sits on top of one real row (a copy or a near copy of an outlier).
- :class:`ExactCopies` — synthetic rows equal to some real row on every compared
  column (missing equals missing), as a count and a share.

Without a holdout the real rows are split once (``holdout_share``, fixed seed)
and the breakdown says so.

Why not SDMetrics' own (sdmetrics 0.32):

- ``DCROverfittingProtection`` asks another question: the share of synthetic
  rows closer to the training rows than to the holdout rows, scored
  ``min(2 * (1 - share), 1)``. The "Privacy: near copies" card shows the share
  of synthetic rows closer to a training row than 95% of holdout rows are
  (about 5% by chance), which flags the closest rows rather than the average
  pull. It also warns whenever the holdout is smaller than half the training
  rows (the usual 60/20 split), and its subsampling is unseeded.
- ``DCRBaselineProtection`` compares with uniformly random rows, not with real
  rows the generator never saw; it measures distance from noise, not memorising.
- ``NewRowSynthesis`` counts a synthetic row as old when a real row matches it
  within 1% on every number, and checks one row at a time (a pandas query per
  synthetic row: minutes on 60k rows). ``ExactCopies`` is exact (numbers to 9
  significant digits, categories by their text, missing equals missing) and
  hashes every row at once.
- SDMetrics has no nearest-neighbour distance ratio.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from ..encoding import RowEncoder
from ..errors import DataError
from .fidelity import Goal, Metric, category_texts, check_rows, resolve_columns

__all__ = ["DistanceToClosestRecord", "ExactCopies", "NearestNeighbourDistanceRatio", "row_keys"]


def _split_holdout(
    real: pd.DataFrame, holdout: pd.DataFrame | None, holdout_share: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    if holdout is not None and len(holdout):
        return real, holdout, False
    if len(real) < 4:
        raise DataError(
            f"the holdout comparison needs a holdout frame or at least 4 real rows to split; "
            f"got {len(real)} real rows and no holdout."
        )
    order = rng.permutation(len(real))
    n_hold = min(max(2, round(holdout_share * len(real))), len(real) - 2)
    return real.iloc[np.sort(order[n_hold:])], real.iloc[np.sort(order[:n_hold])], True


def _cap(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]


_memo: OrderedDict[tuple, np.ndarray] = OrderedDict()
_memo_lock = threading.Lock()


def _digest(X: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(X, dtype=np.float64).tobytes()).hexdigest() + str(X.shape)


def _neighbour_distances(train_X: np.ndarray, query_X: np.ndarray, k: int) -> np.ndarray:
    """Distances to the ``k`` nearest training rows (``k <= 2``).

    Both neighbours are always found and the result is memoised (4 entries,
    keyed by the matrices' content), so DCR and NNDR in one report share one
    search. One thread: BLAS and OpenMP threads only lose time on a shared machine.
    """
    key = (_digest(train_X), _digest(query_X))
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key][:, :k]
    n = min(2, len(train_X))
    with threadpool_limits(limits=1):
        dist, _ = NearestNeighbors(n_neighbors=n).fit(train_X).kneighbors(query_X)
    with _memo_lock:
        _memo[key] = dist
        while len(_memo) > 4:
            _memo.popitem(last=False)
    return dist[:, :k]


def _prepare(real, synthetic, holdout, schema, columns, random_state, holdout_share, max_rows):
    check_rows(real, synthetic, "the privacy metrics")
    schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
    cols = numeric + categorical
    rng = np.random.default_rng(random_state)
    train, hold, was_split = _split_holdout(real, holdout, holdout_share, rng)
    train, hold = _cap(train, max_rows, rng), _cap(hold, max_rows, rng)
    encoder = RowEncoder(schema, cols).fit(train)
    return (
        encoder.transform(train),
        encoder.transform(synthetic[cols]),
        encoder.transform(hold[cols]),
        {
            "n_train": len(train),
            "n_holdout": len(hold),
            "holdout_from_split": was_split,
            "random_state": random_state,
        },
    )


class DistanceToClosestRecord(Metric):
    """Share of synthetic rows closer to the training rows than most holdout rows are.

    Parameters of ``compute_breakdown`` beyond ``schema``: ``holdout`` (real rows
    not used to generate; split from ``real`` when absent), ``quantile`` (0.05),
    ``random_state``, ``holdout_share`` (0.2) and ``max_rows`` (cap on training
    and holdout rows, 20,000).

    Breakdown: ``score``, ``threshold`` (the holdout's DCR quantile),
    ``dcr_synthetic`` and ``dcr_holdout`` (median and 5th percentile), and
    ``parameters``.
    """

    name = "dcr"
    goal = Goal.MINIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "holdout", "quantile", "random_state", "holdout_share", "max_rows")

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        holdout=None,
        quantile: float = 0.05,
        random_state: int | None = 0,
        holdout_share: float = 0.2,
        max_rows: int = 20000,
    ) -> dict:
        train_X, syn_X, hold_X, params = _prepare(
            real, synthetic, holdout, schema, columns, random_state, holdout_share, max_rows
        )
        d_syn = _neighbour_distances(train_X, syn_X, 1)[:, 0]
        d_hold = _neighbour_distances(train_X, hold_X, 1)[:, 0]
        threshold = float(np.quantile(d_hold, quantile))
        share = float(np.mean(d_syn <= threshold))
        return {
            "score": share,
            "threshold": threshold,
            "expected": float(quantile),
            "dcr_synthetic": {"median": float(np.median(d_syn)), "p05": float(np.quantile(d_syn, 0.05))},
            "dcr_holdout": {"median": float(np.median(d_hold)), "p05": float(np.quantile(d_hold, 0.05))},
            "parameters": {**params, "quantile": quantile},
        }


class NearestNeighbourDistanceRatio(Metric):
    """Mean ratio of nearest to second-nearest training-row distance of synthetic rows.

    Higher is safer: a ratio near 0 means the row sits on one real row. Exact
    copies of a duplicated real row (both distances 0) count as 0. The
    breakdown compares with the holdout rows' mean ratio and gives the share of
    synthetic rows under the holdout's 5th percentile.
    """

    name = "nndr"
    goal = Goal.MAXIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns", "holdout", "random_state", "holdout_share", "max_rows")

    @staticmethod
    def _ratios(dist: np.ndarray) -> np.ndarray:
        if dist.shape[1] < 2:
            raise DataError("the distance ratio needs at least 2 training rows.")
        d1, d2 = dist[:, 0], dist[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d2 > 0, d1 / np.where(d2 > 0, d2, 1.0), 0.0)

    @classmethod
    def compute_breakdown(
        cls,
        real,
        synthetic,
        *,
        schema=None,
        columns=None,
        holdout=None,
        random_state: int | None = 0,
        holdout_share: float = 0.2,
        max_rows: int = 20000,
    ) -> dict:
        train_X, syn_X, hold_X, params = _prepare(
            real, synthetic, holdout, schema, columns, random_state, holdout_share, max_rows
        )
        r_syn = cls._ratios(_neighbour_distances(train_X, syn_X, 2))
        r_hold = cls._ratios(_neighbour_distances(train_X, hold_X, 2))
        p05 = float(np.quantile(r_hold, 0.05))
        return {
            "score": float(np.mean(r_syn)),
            "median": float(np.median(r_syn)),
            "holdout_mean": float(np.mean(r_hold)),
            "share_below_holdout_p05": float(np.mean(r_syn <= p05)),
            "parameters": params,
        }


def row_keys(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """One 64-bit hash per row of the compared columns, equal for equal rows.

    Numbers compare as floats rounded to 9 significant decimals; categories
    compare by their text (``1``, ``1.0`` and ``"1"`` are one category);
    missing equals missing.
    """
    parts = {}
    for col in numeric:
        x = pd.to_numeric(frame[col], errors="coerce").astype(float)
        parts[col] = x.round(9).fillna(np.inf)  # inf stands for missing; a real inf is not expected
    for col in categorical:
        parts[col] = category_texts(frame[col]).astype(str)
    norm = pd.DataFrame(parts, index=frame.index)
    return pd.util.hash_pandas_object(norm, index=False).to_numpy()


class ExactCopies(Metric):
    """Share of synthetic rows that equal a real row on every compared column.

    Breakdown: ``score`` (share), ``count``, ``n_synthetic`` and up to 20
    ``examples`` (index labels of copied synthetic rows).
    """

    name = "exact_copies"
    goal = Goal.MINIMIZE
    min_value, max_value = 0.0, 1.0
    options = ("columns",)

    @classmethod
    def compute_breakdown(cls, real, synthetic, *, schema=None, columns=None) -> dict:
        check_rows(real, synthetic, "exact copies")
        schema, numeric, categorical = resolve_columns(real, synthetic, schema, columns)
        real_keys = row_keys(real, numeric, categorical)
        syn_keys = row_keys(synthetic, numeric, categorical)
        copied = np.isin(syn_keys, real_keys)
        count = int(copied.sum())
        return {
            "score": float(count / len(synthetic)),
            "count": count,
            "n_synthetic": len(synthetic),
            "examples": [_plain(v) for v in synthetic.index[copied][:20]],
        }


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v

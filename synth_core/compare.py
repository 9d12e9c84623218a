"""What the Compare page computes: the run's map, the rows a person chose, the real rows they are judged by.

A run is mapped once (:func:`run_map`): a t-SNE of a sample of the real rows and of
*every* kind of candidate (kept, accepted, rejected; every rule), so choosing other
rows, a rule or a lasso only highlights points of the same map instead of
computing a new one. :func:`choose_rows` is the page's filter (status, rules, a
column's values or range, a lasso's row ids) and :func:`real_rows_for` the real
rows a choice is compared with (a rule's own rows when rules are chosen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._frames import concat_rows
from .errors import DataError
from .evaluation.embedding import embed_tsne

__all__ = ["RunMap", "run_map", "choose_rows", "real_rows_for", "STATUSES", "MAP_POINTS"]

#: What the page offers to look at: rows kept for export, accepted before the check, rejected, all.
STATUSES = {
    "kept": "Kept by the check",
    "accepted": "Accepted (before the check)",
    "rejected": "Rejected",
    "all": "All candidates",
}
#: Points on a run's map (real and candidate rows together).
MAP_POINTS = 2000


@dataclass(frozen=True)
class RunMap:
    """A run's t-SNE map: ``coords`` has ``x``, ``y``, ``source`` (``real`` / ``synthetic``) and ``row_id``
    (a candidate's ``_row_id``, or ``""`` for real rows); ``subtitle`` says what was mapped."""

    coords: pd.DataFrame
    subtitle: str
    seconds: float


def _candidate_sample(rows: pd.DataFrame, k: int, random_state: int) -> pd.DataFrame:
    """Up to ``k`` candidate rows, every (status, kept, rule) stratum represented in proportion, small ones whole."""
    if len(rows) <= k:
        return rows
    keys = (
        rows.get("_status", pd.Series("accepted", index=rows.index)).astype(str)
        + "|"
        + rows.get("_selected", pd.Series(False, index=rows.index)).astype(str)
        + "|"
        + rows.get("_rule_id", pd.Series("", index=rows.index)).astype(str)
    )
    share = k / len(rows)
    parts = [
        g.sample(min(len(g), max(1, int(round(share * len(g))))), random_state=random_state)
        for _, g in rows.groupby(keys, sort=True)
    ]
    out = concat_rows(parts)
    return out.sample(min(len(out), k), random_state=random_state) if len(out) > k else out


def run_map(run, *, max_points: int = MAP_POINTS, random_state: int = 0) -> RunMap:
    """t-SNE of the run's real rows and candidates, half the points each (cached by the embedding layer)."""
    ds = run.dataset
    cols = ds.features + [ds.target]
    rows = run.rows
    cand = _candidate_sample(rows, max_points // 2, random_state) if len(rows) else rows
    real = ds.train[cols].reset_index(drop=True)
    real = real.sample(min(len(real), max_points - len(cand)), random_state=random_state).reset_index(
        drop=True
    )
    emb = embed_tsne(
        real,
        cand[cols].reset_index(drop=True) if len(cand) else None,
        schema=ds.schema,
        max_points=len(real) + len(cand),
        random_state=random_state,
    )
    coords = emb.coords.copy()
    ids = cand["_row_id"].astype(str).to_numpy() if len(cand) else np.array([], dtype=object)
    synthetic = (coords["source"] == "synthetic").to_numpy()
    coords["row_id"] = ""
    coords.loc[synthetic, "row_id"] = ids[coords.loc[synthetic, "position"].to_numpy()]
    subtitle = (
        f"{int((~synthetic).sum()):,} of {len(ds.train):,} real rows and {int(synthetic.sum()):,} of "
        f"{len(rows):,} candidates mapped once for this run; your choice is highlighted"
    )
    return RunMap(coords=coords, subtitle=subtitle, seconds=emb.seconds)


def choose_rows(
    rows: pd.DataFrame,
    *,
    status: str = "kept",
    rule_ids=None,
    column: str | None = None,
    values=None,
    between: tuple | None = None,
    row_ids=None,
) -> pd.DataFrame:
    """The candidate rows a person chose: by status (:data:`STATUSES`), rules, one column's values or range,
    and a lasso's row ids (each filter optional; they combine with AND). The original order is kept.

    >>> rows = pd.DataFrame({"x": [1, 5, 9], "_rule_id": ["r1", "r2", "r1"], "_status": ["accepted"] * 3,
    ...                      "_selected": [True, False, True], "_row_id": ["a", "b", "c"]})
    >>> choose_rows(rows, status="kept", column="x", between=(0, 5))["_row_id"].tolist()
    ['a']
    """
    if status not in STATUSES:
        raise DataError(f"status must be one of {', '.join(STATUSES)}, not {status!r}.")
    keep = np.ones(len(rows), dtype=bool)
    state = rows.get("_status", pd.Series("accepted", index=rows.index)).astype(str).to_numpy()
    if status == "kept":
        keep &= (
            rows.get("_selected", pd.Series(state == "accepted", index=rows.index)).astype(bool).to_numpy()
        )
    elif status == "accepted":
        keep &= state == "accepted"
    elif status == "rejected":
        keep &= state != "accepted"
    if rule_ids:
        keep &= rows["_rule_id"].astype(str).isin({str(r) for r in rule_ids}).to_numpy()
    if column is not None and (values or between is not None):
        if column not in rows:
            raise DataError(f"cannot filter on {column!r}: the rows have no such column.")
        cells = rows[column]
        if between is not None:
            num = pd.to_numeric(cells, errors="coerce")
            keep &= ((num >= between[0]) & (num <= between[1])).to_numpy()
        else:
            keep &= cells.astype(str).isin({str(v) for v in values}).to_numpy()
    if row_ids:
        keep &= rows["_row_id"].astype(str).isin({str(r) for r in row_ids}).to_numpy()
    return rows[keep]


def real_rows_for(run, rule_ids=None) -> pd.DataFrame:
    """The real rows a choice is judged against: every row the run learned from, or only those of the chosen
    rules (a rule's synthetic rows are compared with its own real rows)."""
    ds = run.dataset
    real = ds.train[ds.features + [ds.target]].reset_index(drop=True)
    rules = [r for r in run.rules if rule_ids and r.id in {str(i) for i in rule_ids}]
    if not rules:
        return real
    return real[np.any([r.mask(real) for r in rules], axis=0)].reset_index(drop=True)

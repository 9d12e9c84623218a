"""Picking the final rows: DATE's MAB-based data sampling (MDS, Alg. 3) and greedy baselines.

Two readings of Alg. 3 (``preset=``); ``docs/PAPERS.md`` lists each line with
the function, same / differs and why, and the test.

``preset="product"`` (default)
    Arms are the generated batches, one per (rule, iteration) (the ``_arm``
    column). Each arm has a quality ``1 - rho_k``: the validation score of the
    downstream model trained on real train rows plus the accepted arms plus (a
    bootstrap half of) this arm (classification: 1 - error rate; regression:
    1 - MSE / var(y)); a diversity ``div_k = 1 - sum_j w_j * overlap(r_k, r_j)``
    over the approved rules (weighted by real support) and the arms accepted so
    far (weighted by rows), with ``overlap`` from ``rules.py`` (Definition 5;
    the paper calls the weighted overlap itself "diversity", we use one minus
    it so that larger is more diverse); and a utility
    ``u_k = alpha * (1 - rho_k) + (1 - alpha) * div_k``. Successive
    accept/reject (SAR) phases pull every active arm ``n_k - n_{k-1}`` times
    (``n_k`` as Alg. 3 line 7, from ``n_pulls``, default ``min(3K, 90)``: each
    pull fits the model once); the active arm with the largest mean utility
    plus ``0.01`` times the UCB bonus ``sqrt(2 ln t / n_i)`` leaves the active
    set. The bonus is scaled down because pulls are noisy refits on a few
    hundred validation rows and exploration was measured to pick worse arms;
    with 0.01 the order is, in effect, by mean utility. The arm is accepted
    when its quality with the accepted arms is at least the best so far
    (compared on quality, not utility, so an accepted arm never makes
    validation worse). Selection stops when the row budget is filled.
``preset="paper"``
    Alg. 3 as published: one arm per DGR-based example ``e_k = (m, rho_k, r_k,
    H_k)`` (DATE's paper preset writes one ``_arm`` per source rule, iteration
    and tree path; ``r_k`` is the path); the initial utility (lines 3-5) uses
    the example's ``rho_k = rho_m - Delta_k`` (``_quality``) and Definition 5's
    diversity, the weighted overlap itself; ``n`` is the number of bandit
    pulls (200 in the paper); a pull scores a random subset of the active arms
    that contains the arm (with the accepted ones) and adds
    ``alpha * quality + (1 - alpha) * div`` to its mean; the arm leaving the
    active set is the one with the largest mean plus the full UCB bonus; its
    utility is updated on the accepted arms plus its rows (line 11) and it is
    accepted when that is at least the best score ``bs`` (lines 12-14, ``bs``
    starts at 0); selection stops as soon as ``bs`` does not improve. There is
    no row budget: an accepted arm brings all its rows.

Only train and validation rows are used; test rows never reach selection.
Greedy baselines (same function, ``method=``): ``fgs`` (forward greedy over arms
in generation order), ``bgs`` (backward: latest iteration first), ``topk``
(arms ranked by their own quality), ``none`` (all rows up to the budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._frames import concat_rows
from ..errors import InvalidParameterError
from ..models import row_losses
from ..rules import overlap

__all__ = ["select_rows", "Selection", "METHODS", "PRESETS", "UCB_SCALE", "PAPER_PULLS", "choose_amount"]

METHODS = ("mds", "fgs", "bgs", "topk", "none")
PRESETS = ("product", "paper")
#: The product's factor on the UCB bonus (see the module docstring); the paper preset uses 1.
UCB_SCALE = 0.01
#: The paper's MAB budget n (bandit pulls).
PAPER_PULLS = 200
# Under the paper protocol the selection is scored on the validation split; under cross-fitting on the
# share of the given rows the pipeline sets aside for it (``pipeline._inner_split``): words true to both.
_NONE_IMPROVED = (
    "no arm improved the score on the rows set aside to judge the selection, so no synthetic rows were "
    "selected"
)


@dataclass
class Selection:
    """Chosen rows and how each arm fared.

    ``arms`` has one row per arm: arm, rule_id, iteration, rows, quality, diversity, utility,
    pulls, accepted, order (when it left the active set); the paper preset adds ``rho_k``.
    ``pulls`` is the number of bandit pulls made (each fits the model once).
    """

    row_ids: list[str]
    arms: pd.DataFrame
    method: str
    baseline_quality: float
    final_quality: float
    messages: list[str] = field(default_factory=list)
    pulls: int = 0


class _Scorer:
    """Validation quality of the downstream model trained on real train rows plus extra rows."""

    def __init__(self, dataset, model, random_state):
        self.ds, self.model, self.rs = dataset, model, random_state
        cols = dataset.features + [dataset.target]
        self.train = dataset.train[cols].reset_index(drop=True)
        self.val = dataset.val
        self.var = (
            float(np.var(dataset.val[dataset.target].to_numpy(dtype=float)))
            if dataset.task == "regression"
            else 1.0
        )
        self.calls = 0

    def quality(self, extra: pd.DataFrame | None) -> float:
        return self.losses_and_quality(extra)[1]

    def losses_and_quality(self, extra: pd.DataFrame | None) -> tuple[np.ndarray, float]:
        """Per-validation-row loss (0/1 error or squared error) and the quality."""
        ds = self.ds
        frame = (
            self.train
            if extra is None or len(extra) == 0
            else concat_rows([self.train, extra[self.train.columns]], ignore_index=True)
        )
        self.calls += 1
        loss = row_losses(
            ds.schema,
            ds.features,
            ds.task,
            frame,
            self.val,
            ds.target,
            model=self.model,
            random_state=self.rs,
            like=self.train,
        )
        if ds.task == "classification":
            return loss, 1.0 - float(np.mean(loss))
        # not clipped at 0: a model worse than predicting the mean must still rank below a better one
        return loss, float(min(1.0 - float(np.mean(loss)) / (self.var or 1.0), 1.0))


def _diversity(rule, pool: list[tuple], schema) -> float:
    """1 - weighted overlap of ``rule`` with the (rule, weight) pool."""
    if rule is None or not pool:
        return 1.0
    total = sum(w for _, w in pool) or 1.0
    return float(1.0 - sum(w * overlap(rule, r, schema) for r, w in pool) / total)


def _others(pool: list[tuple], rule, *, keep_accepted: bool = False) -> list[tuple]:
    """The pool without the arm's own approved rule (an arm is not less diverse for matching its
    own rule); with ``keep_accepted``, accepted batches of that rule (appended after the rules) stay."""
    out, seen_own = [], False
    for r, w in pool:
        if r is rule and not seen_own:
            seen_own = True
            continue
        if r is rule and not keep_accepted:
            continue
        out.append((r, w))
    return out


def select_rows(
    candidates: pd.DataFrame,
    dataset,
    rules,
    *,
    method: str = "mds",
    alpha: float = 0.8,
    budget: int = 200,
    n_pulls: int | None = None,
    model=None,
    random_state: int = 0,
    tolerance: float = 0.0,
    preset: str = "product",
) -> Selection:
    """Choose at most ``budget`` rows from accepted candidate rows, arm by arm.

    Parameters
    ----------
    candidates : DataFrame
        Rows with ``_row_id``, ``_arm``, ``_rule_id``, ``_iteration`` (and ``_status``; only
        accepted rows are considered).
    dataset : Dataset
    rules : list of Rule
        Approved (and proposed-refined) rules, for diversity.
    method : {'mds', 'fgs', 'bgs', 'topk', 'none'}
    alpha : float in [0, 1]
        Weight of quality against diversity.
    budget : int
        Most rows to return (DATE's n).
    n_pulls : int, optional
        Bandit pulls in total (default: product 3 per arm, at most 90; paper :data:`PAPER_PULLS`).
    tolerance : float
        An arm is accepted when its quality is >= best - tolerance (product).
    preset : {'product', 'paper'}
        Which reading of Alg. 3 MDS runs (see the module docstring); ``budget`` does not bound the paper's.
    """
    if method not in METHODS:
        raise InvalidParameterError(
            f"The 'method' parameter of select_rows must be one of {METHODS}. Got {method!r} instead."
        )
    if not 0 <= alpha <= 1 or (isinstance(alpha, float) and math.isnan(alpha)):
        raise InvalidParameterError(
            f"The 'alpha' parameter of select_rows must be in [0, 1]. Got {alpha!r} instead."
        )
    if budget < 1:
        raise InvalidParameterError(
            f"The 'budget' parameter of select_rows must be >= 1. Got {budget!r} instead."
        )
    if preset not in PRESETS:
        raise InvalidParameterError(
            f"The 'preset' parameter of select_rows must be one of {PRESETS}. Got {preset!r} instead."
        )
    rows = candidates
    if "_status" in rows:
        rows = rows[rows["_status"] == "accepted"]
    rng = np.random.default_rng(random_state)
    scorer = _Scorer(dataset, model, random_state)
    base_q = scorer.quality(None)
    by_id = {r.id: r for r in rules}
    arms = []
    for arm, group in rows.groupby("_arm", sort=False):
        rid = str(group["_rule_id"].iloc[0])
        arms.append(
            {
                "arm": arm,
                "rule_id": rid,
                "iteration": int(group["_iteration"].iloc[0]),
                "rows": len(group),
                "quality": np.nan,
                "diversity": np.nan,
                "utility": np.nan,
                "pulls": 0,
                "accepted": False,
                "order": -1,
                "_frame": group,
                "_rule": by_id.get(rid),
            }
        )
    messages = []
    if not arms:
        return Selection([], _arm_table(arms), method, base_q, base_q, ["no accepted rows to select from"])
    support = {r.id: max(r.count(dataset.train), 1) for r in rules}
    pool = [(r, support[r.id]) for r in rules]
    for a in arms:
        a["diversity"] = _diversity(a["_rule"], _others(pool, a["_rule"]), dataset.schema)

    if method == "none":
        chosen = concat_rows([a["_frame"] for a in arms])
        ids = chosen["_row_id"].sample(min(budget, len(chosen)), random_state=random_state).tolist()
        for a in arms:
            a["accepted"] = True
        return Selection(
            ids, _arm_table(arms), method, base_q, scorer.quality(chosen[chosen["_row_id"].isin(ids)])
        )

    if method == "topk":
        for a in arms:
            a["quality"] = scorer.quality(a["_frame"])
            a["utility"] = alpha * a["quality"] + (1 - alpha) * a["diversity"]
        order = sorted(arms, key=lambda a: -a["utility"])
        return _fill(
            order,
            arms,
            budget,
            scorer,
            base_q,
            method,
            rng,
            messages,
            accept_all=False,
            tolerance=tolerance,
            greedy_quality=False,
        )

    if method in ("fgs", "bgs"):
        order = sorted(arms, key=lambda a: (a["iteration"], a["rule_id"]), reverse=method == "bgs")
        return _fill(
            order,
            arms,
            budget,
            scorer,
            base_q,
            method,
            rng,
            messages,
            accept_all=False,
            tolerance=tolerance,
            greedy_quality=True,
        )

    if preset == "paper":
        return _mds_paper(arms, rows, scorer, base_q, alpha, n_pulls, rng, dataset, rules, support, messages)

    # --- MDS: successive accept/reject with UCB pulls
    K = len(arms)
    total_pulls = n_pulls if n_pulls is not None else min(3 * K, 90)
    log_bar = 0.5 + sum(1.0 / i for i in range(2, K + 1))
    sums = np.zeros(K)
    counts = np.zeros(K)
    active = list(range(K))
    accepted: list[int] = []
    best_q = base_q
    n_prev, t = 0, 0
    chosen_rows: list[pd.DataFrame] = []
    used = 0
    for phase in range(1, K + 1):
        if not active or used >= budget:
            break
        n_k = math.ceil((1 / log_bar) * max(total_pulls - K, 0) / (K + 1 - phase)) if phase < K else n_prev
        pulls = max(n_k - n_prev, 1 if phase == 1 else 0)
        n_prev = n_k
        extra = concat_rows(chosen_rows) if chosen_rows else None
        for i in active:
            for _ in range(pulls):
                frame = arms[i]["_frame"]
                half = frame.sample(max(1, len(frame) // 2), random_state=int(rng.integers(1 << 30)))
                q = scorer.quality(half if extra is None else concat_rows([extra, half]))
                u = alpha * q + (1 - alpha) * arms[i]["diversity"]
                sums[i] += u
                counts[i] += 1
                t += 1
        ucb = {
            i: (sums[i] / counts[i] if counts[i] else 1.0)
            + (math.sqrt(2 * math.log(max(t, 2)) / counts[i]) if counts[i] else 1e9) * UCB_SCALE
            for i in active
        }
        i_k = max(active, key=lambda i: ucb[i])
        active.remove(i_k)
        a = arms[i_k]
        a["order"] = phase
        a["pulls"] = int(counts[i_k])
        frame = a["_frame"]
        room = budget - used
        if len(frame) > room:
            frame = frame.sample(room, random_state=random_state)
        q = scorer.quality(frame if extra is None else concat_rows([extra, frame]))
        a["quality"] = q
        a["utility"] = alpha * q + (1 - alpha) * a["diversity"]
        if q >= best_q - tolerance:
            best_q = max(best_q, q)
            a["accepted"] = True
            accepted.append(i_k)
            chosen_rows.append(frame)
            used += len(frame)
            pool.append((a["_rule"], len(frame)))
            for j in active:  # diversity against accepted arms too
                arms[j]["diversity"] = _diversity(
                    arms[j]["_rule"], _others(pool, arms[j]["_rule"], keep_accepted=True), dataset.schema
                )
    for i in active:
        arms[i]["pulls"] = int(counts[i])
        if counts[i]:
            arms[i]["utility"] = float(sums[i] / counts[i])
    ids = concat_rows(chosen_rows)["_row_id"].tolist() if chosen_rows else []
    if not ids:
        messages.append(f"{_NONE_IMPROVED}; try another generator, more rows, or a lower alpha.")
    final_q = scorer.quality(concat_rows(chosen_rows)) if chosen_rows else base_q
    return Selection(ids, _arm_table(arms), "mds", base_q, final_q, messages, pulls=int(t))


def _arm_rule(frame: pd.DataFrame, fallback):
    """The rule ``r_k`` of a paper arm: its tree path (DATE's paper preset), else its source rule."""
    from ..errors import RuleSyntaxError
    from ..rules import parse_rule

    path = str(frame["_path"].iloc[0]) if "_path" in frame and len(frame) else ""
    if path and not path.startswith("("):
        try:
            return parse_rule(path)
        except RuleSyntaxError:  # pragma: no cover - paths are written by the rule formatter
            pass
    return fallback


def _mds_paper(arms, rows, scorer, base_q, alpha, n_pulls, rng, dataset, rules, support, messages):
    """Alg. 3 as published (see the module docstring)."""
    schema = dataset.schema
    K = len(arms)
    n = int(n_pulls) if n_pulls is not None else PAPER_PULLS
    pool = [(r, support[r.id]) for r in rules if r.status == "approved"] or [
        (r, support[r.id]) for r in rules
    ]
    for a in arms:
        a["_rule"] = _arm_rule(a["_frame"], a["_rule"])
        # Definition 5: the weighted overlap with E_m (and, later, with the accepted arms)
        a["diversity"] = 1.0 - _diversity(a["_rule"], pool, schema)
        quality = (
            pd.to_numeric(a["_frame"].get("_quality"), errors="coerce")
            if "_quality" in a["_frame"]
            else pd.Series(dtype=float)
        )
        rho_k = float(quality.mean()) if quality.notna().any() else 1.0 - scorer.quality(a["_frame"])
        a["rho_k"] = rho_k
    sums = np.array([alpha * (1 - a["rho_k"]) + (1 - alpha) * a["diversity"] for a in arms])  # lines 3-5
    counts = np.ones(K)
    active = list(range(K))
    chosen_rows: list[pd.DataFrame] = []
    log_bar = 0.5 + sum(1.0 / i for i in range(2, K + 1))
    best, n_prev, t = 0.0, 0, 0
    for phase in range(1, K + 1):
        if not active:
            break
        n_k = math.ceil((1 / log_bar) * max(n - K, 0) / (K + 1 - phase)) if phase < K else n_prev  # line 7
        pulls, n_prev = max(n_k - n_prev, 0), n_k
        extra = concat_rows(chosen_rows) if chosen_rows else None
        for i in active:  # line 8: every active arm, n_k - n_{k-1} times
            for _ in range(pulls):
                others = [j for j in active if j != i and rng.random() < 0.5]
                sub = [arms[j]["_frame"] for j in [i] + others] + ([extra] if extra is not None else [])
                q = scorer.quality(concat_rows(sub))
                sums[i] += alpha * q + (1 - alpha) * arms[i]["diversity"]
                counts[i] += 1
                t += 1
        ucb = {i: sums[i] / counts[i] + math.sqrt(2 * math.log(max(t, 2)) / counts[i]) for i in active}
        i_k = max(active, key=lambda i: abs(ucb[i]))  # line 9
        active.remove(i_k)  # line 10
        a = arms[i_k]
        a["order"] = phase
        a["pulls"] = int(counts[i_k] - 1)
        q = scorer.quality(a["_frame"] if extra is None else concat_rows([extra, a["_frame"]]))  # line 11
        a["quality"] = q
        a["utility"] = alpha * q + (1 - alpha) * a["diversity"]
        if a["utility"] < best:  # lines 12-14, and the stop "until bs no longer improves"
            messages.append(
                f"MDS stopped at arm {a['arm']}: its utility {a['utility']:.4f} did not reach the best "
                f"score {best:.4f}."
            )
            break
        best = a["utility"]
        a["accepted"] = True
        chosen_rows.append(a["_frame"])
        pool.append((a["_rule"], len(a["_frame"])))
        for j in active:  # div_k = div(r_k | E_m ∪ A_K)
            arms[j]["diversity"] = 1.0 - _diversity(arms[j]["_rule"], pool, schema)
    for i in active:
        arms[i]["pulls"] = int(counts[i] - 1)
        arms[i]["utility"] = float(sums[i] / counts[i])
    ids = concat_rows(chosen_rows)["_row_id"].tolist() if chosen_rows else []
    final_q = scorer.quality(concat_rows(chosen_rows)) if chosen_rows else base_q
    out = Selection(ids, _arm_table(arms), "mds", base_q, final_q, messages, pulls=int(t))
    out.arms["rho_k"] = [a["rho_k"] for a in arms]
    return out


def _fill(
    order, arms, budget, scorer, base_q, method, rng, messages, *, accept_all, tolerance, greedy_quality
):
    chosen, used, best_q = [], 0, base_q
    for rank, a in enumerate(order, start=1):
        if used >= budget:
            break
        frame = a["_frame"]
        if len(frame) > budget - used:
            frame = frame.sample(budget - used, random_state=int(rng.integers(1 << 30)))
        a["order"] = rank
        if greedy_quality:
            q = scorer.quality(concat_rows(chosen + [frame]))
            a["quality"] = q
            a["utility"] = q
            if q < best_q - tolerance:
                continue
            best_q = max(best_q, q)
        elif not accept_all and a["quality"] < base_q - tolerance:
            continue
        a["accepted"] = True
        chosen.append(frame)
        used += len(frame)
    ids = concat_rows(chosen)["_row_id"].tolist() if chosen else []
    if not ids:
        messages.append(f"{_NONE_IMPROVED}.")
    final_q = scorer.quality(concat_rows(chosen)) if chosen else base_q
    return Selection(ids, _arm_table(arms), method, base_q, final_q, messages)


def _arm_table(arms) -> pd.DataFrame:
    cols = [
        "arm",
        "rule_id",
        "iteration",
        "rows",
        "quality",
        "diversity",
        "utility",
        "pulls",
        "accepted",
        "order",
    ]
    return pd.DataFrame([{k: a[k] for k in cols} for a in arms], columns=cols)


def choose_amount(
    candidates: pd.DataFrame,
    dataset,
    *,
    model=None,
    fractions=(0.0, 0.25, 0.5, 1.0),
    z_min: float = 1.0,
    random_state: int = 0,
) -> tuple[list[str], pd.DataFrame]:
    """How many of the chosen rows to keep, decided on validation rows.

    The rows are shuffled once; each fraction of them is added to the real train rows and the
    downstream model is scored on validation rows. A fraction qualifies only when its paired
    improvement over real rows alone (per validation row: loss without minus loss with the rows)
    has a z-score of at least ``z_min`` (for 0/1 errors this is McNemar's statistic), so that noise
    on a small validation split does not let harmful rows through. Among qualifying fractions the
    best mean wins (a tie keeps more rows); when none qualifies no row is kept. Returns the kept row
    ids and a table (fraction, rows, quality, z).
    """
    scorer = _Scorer(dataset, model, random_state)
    order = candidates.sample(frac=1.0, random_state=random_state)
    base_loss, base_q = scorer.losses_and_quality(None)
    table = [{"fraction": 0.0, "rows": 0, "quality": base_q, "z": 0.0}]
    for f in fractions:
        k = int(round(f * len(order)))
        if k == 0:
            continue
        loss, q = scorer.losses_and_quality(order.head(k))
        d = base_loss - loss
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
        z = float(np.mean(d) / (sd / np.sqrt(len(d)))) if sd > 0 else (np.inf if np.mean(d) > 0 else 0.0)
        table.append({"fraction": f, "rows": k, "quality": q, "z": z})
    table = pd.DataFrame(table)
    ok = table[(table["rows"] > 0) & (table["z"] >= z_min)]
    if not len(ok):
        return [], table
    top = ok[ok["quality"] == ok["quality"].max()]["rows"].max()
    return order.head(int(top))["_row_id"].tolist(), table

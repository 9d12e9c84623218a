"""The search of DATE Alg. 1: candidate conjunctions from a priority queue, then fusion.

:class:`RuleSearch` runs steps 1-4 of the algorithm described in the package
docstring: it pops the candidate with the highest ``ind`` (then the largest
support), accepts it with an ancestor's model or a newly trained one when the
error is at most ``rho``, and otherwise splits it on the sides of the trained
model's root split. Every leaf of the search is a :class:`Region` (a rule
before fusion). :meth:`RuleSearch.fuse` then joins the regions that share one
model into :class:`RuleGroup` objects, one DNF rule each (Proposition 3);
:class:`~.estimator.DGRDiscoverer` caps their number and writes the rules.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from ..rules import Conjunction, Predicate, Rule
from .encoding import predicate_mask
from .paths import simplify_conjunction
from .training import ModelBuilder, TrainedModel

__all__ = ["Candidate", "Region", "RuleGroup", "RuleSearch", "group_text"]


@dataclass(frozen=True)
class Region:
    """One leaf of the search: a rule before fusion.

    Attributes
    ----------
    conjunction : Conjunction
    support : int
        Train rows it covers.
    model_id : int
        Model whose error is reported.
    error : float
    fits : bool
        ``error <= rho``.
    shared : bool
        Accepted with an ancestor's model, without training one.
    depth : int
        Predicates on the search path.
    ind : float
    reason : str
        Why a region that does not fit stopped (``'max_depth'``, ``'min_support'``,
        ``'no split'``, ``'max_models'``), else ``''``.
    """

    conjunction: Conjunction
    support: int
    model_id: int
    error: float
    fits: bool
    shared: bool
    depth: int
    ind: float
    reason: str = ""


@dataclass
class Candidate:
    """A conjunction waiting in the queue: node id, predicates, rows, depth, its ancestors' models."""

    nid: int
    conj: Conjunction
    preds: tuple
    rows: np.ndarray
    depth: int
    pool: tuple
    parent: int


@dataclass
class RuleGroup:
    """A rule under construction: regions fused into one DNF rule."""

    conjs: list  # list of (Conjunction, support)
    rows: np.ndarray
    model_id: int
    fits: bool
    notes: list = field(default_factory=list)
    absorbed: list = field(default_factory=list)  # (text, support, error before, error after)
    fused: list = field(default_factory=list)  # texts of fused regions


def group_text(g: RuleGroup) -> str:
    """The rule text of a group of fused regions (``TRUE`` for none)."""
    conjs = [c for c, _ in g.conjs]
    return Rule(conjunctions=tuple(conjs)).text if conjs else "TRUE"


class RuleSearch:
    """The priority-queue search of Alg. 1 over candidate conjunctions."""

    def __init__(
        self,
        builder: ModelBuilder,
        *,
        rho: float,
        min_support: int,
        max_depth: float,
        max_models: int,
        sharing: bool,
    ):
        self.b = builder
        self.rho, self.min_support, self.max_depth = rho, min_support, max_depth
        self.max_models, self.sharing = max_models, sharing
        self.trained: dict[int, TrainedModel] = {}
        self.n_trained = 0
        self.n_shared = 0
        self.regions: list[tuple[Region, np.ndarray]] = []
        self.region_nids: list[int] = []
        self.children: dict[int, list[int]] = {}
        self.conj_of: dict[int, Conjunction] = {}
        self.rows_of: dict[int, np.ndarray] = {}
        self.warnings: list[str] = []
        self._budget_warned = False

    def _err(self, model_id: int, rows: np.ndarray) -> float:
        return float(self.trained[model_id].loss[rows].mean())

    def _ind(self, pool: tuple, rows: np.ndarray) -> float:
        if not pool or not len(rows):
            return 0.0
        return max(float(np.mean(self.trained[m].loss[rows] <= self.rho)) for m in pool)

    def run(self) -> None:
        b = self.b
        root = Candidate(0, Conjunction(), (), np.arange(b.n), 0, (), -1)
        self.conj_of[0], self.rows_of[0] = root.conj, root.rows
        heap = [(-0.0, -b.n, 0, root)]
        seq = 1
        while heap:
            _, _, _, cand = heapq.heappop(heap)
            rows = cand.rows
            pool_errs = [(m, self._err(m, rows)) for m in cand.pool]
            if self.sharing:
                fitting = [m for m, e in pool_errs if e <= self.rho]
                if fitting:  # Alg. 1 lines 6-8: share the root-most fitting model
                    self.n_shared += 1
                    self._region(cand, fitting[0], dict(pool_errs)[fitting[0]], shared=True)
                    continue
            if self.n_trained >= self.max_models:
                if not self._budget_warned:
                    self.warnings.append(
                        f"The search stopped training new models after max_models="
                        f"{self.max_models}; the parts of the table still open reuse the model "
                        "of a larger part that contains them (raise max_models or rho to "
                        "search further)."
                    )
                    self._budget_warned = True
                m, e = min(pool_errs, key=lambda me: me[1])
                self._region(cand, m, e, shared=False, reason="max_models")
                continue
            mid = self.n_trained
            self.trained[mid] = b.train(rows, model_id=mid, trained_on=cand.conj)
            self.n_trained += 1
            own = self._err(mid, rows)
            if own <= self.rho:
                self._region(cand, mid, own, shared=False)
                continue
            reason = ""
            sides: list[tuple[Predicate, np.ndarray]] = []
            if cand.depth >= self.max_depth:
                reason = "max_depth"
            elif len(rows) < 2 * self.min_support:
                reason = "min_support"
            else:
                sides = self._sides(self.trained[mid].model._root_predicates(), rows)
                if any(len(r) < self.min_support for p, r in sides if p.op != "is missing"):
                    sides = self._sides(b.stump_predicates(rows, self.min_support), rows) or sides
                if not sides:
                    reason = "no split"
                elif max(len(r) for _, r in sides) < self.min_support:
                    reason = "min_support"  # every side too small: stop here (keeps the count monotone)
            if reason:
                options = [(mid, own)] + (pool_errs if self.sharing else [])
                m, e = min(options, key=lambda me: me[1])
                self._region(cand, m, e, shared=False, reason=reason)
                continue
            # Alg. 1 lines 17-20: extend the conjunction with each side of the split
            kids = []
            for pred, child_rows in sides:
                if not len(child_rows):
                    continue
                nid = seq
                seq += 1
                cpreds = cand.preds + (pred,)
                conj = simplify_conjunction(cpreds)
                self.conj_of[nid], self.rows_of[nid] = conj, child_rows
                kids.append(nid)
                if len(child_rows) < self.min_support:
                    continue  # too small to be a rule: part of the remainder
                pool = cand.pool + (mid,)
                child = Candidate(nid, conj, cpreds, child_rows, cand.depth + 1, pool, cand.nid)
                heapq.heappush(heap, (-self._ind(pool, child_rows), -len(child_rows), nid, child))
            self.children[cand.nid] = kids

    def _sides(self, preds: list[Predicate], rows: np.ndarray) -> list[tuple[Predicate, np.ndarray]]:
        """The rows of ``rows`` on each side of a split."""
        out = []
        for pred in preds:
            mask = predicate_mask(pred, self.b.enc[pred.column][rows], self.b.encoder.columns[pred.column])
            out.append((pred, rows[mask]))
        return out

    def _region(
        self, cand: Candidate, model_id: int, error: float, *, shared: bool, reason: str = ""
    ) -> None:
        fits = error <= self.rho
        ind = self._ind(cand.pool + ((model_id,) if model_id not in cand.pool else ()), cand.rows)
        region = Region(
            cand.conj,
            int(len(cand.rows)),
            int(model_id),
            float(error),
            bool(fits),
            shared,
            cand.depth,
            ind,
            "" if fits else reason,
        )
        self.regions.append((region, cand.rows))
        self.region_nids.append(cand.nid)

    def fuse(self) -> list[RuleGroup]:
        """Proposition 3: one DNF rule per (model, fits); siblings that make up their parent collapse."""
        parent = {kid: p for p, kids in self.children.items() for kid in kids}
        keyed: dict[tuple, set[int]] = {}
        info = {}
        for (region, _rows), nid in zip(self.regions, self.region_nids):
            keyed.setdefault((region.model_id, region.fits), set()).add(nid)
            info[nid] = region
        groups = []
        for (model_id, fits), nids in keyed.items():
            items = set(nids)
            changed = True
            while changed:
                changed = False
                for p in {parent[i] for i in items if i in parent}:
                    kids = self.children[p]
                    if kids and all(k in items for k in kids):
                        items -= set(kids)
                        items.add(p)
                        changed = True
                        break
            ordered = sorted(items)
            conjs = [(self.conj_of[i], len(self.rows_of[i])) for i in ordered]
            rows = np.sort(np.concatenate([self.rows_of[i] for i in ordered]))
            fused = [info[i].conjunction.to_text() for i in sorted(nids)]
            groups.append(RuleGroup(conjs, rows, model_id, fits, fused=fused))
        return groups

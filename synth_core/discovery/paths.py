"""From a fitted tree to rules: root-to-leaf paths as conjunctions over the original values.

* :func:`convert_tree` walks a scikit-learn tree fitted on the internal
  encoding (:mod:`.encoding`) and writes every split as predicates on raw
  values: ``col <= v`` / ``col > v`` with the roundest ``v``, category sets,
  ``col is missing`` where the tree sent missing cells. It returns the tree as
  :class:`TreeNode` objects (what :class:`~.shared_model.SharedModel` routes
  rows through) and the path of every leaf.
* :func:`simplify_conjunction` merges the predicates of one path into the
  shortest equivalent conjunction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..rules import Conjunction, Predicate
from .encoding import Column, Encoder, nice_between

__all__ = ["TreeNode", "convert_tree", "simplify_conjunction"]


def simplify_conjunction(predicates: Iterable[Predicate]) -> Conjunction:
    """Merge the predicates of a path into the shortest equivalent conjunction.

    Per column: the tightest lower and upper bounds are kept (``<`` beats
    ``<=`` at the same value), category sets are intersected (``in``) or
    united (``not in``), and ``col is not missing`` is dropped when another
    predicate on the column already implies it. A one-value set is written
    ``==`` / ``!=`` when the input used that form. Rows matched are unchanged.

    Parameters
    ----------
    predicates : iterable of Predicate

    Returns
    -------
    Conjunction

    Examples
    --------
    >>> from synth_core.rules import parse_conjunction
    >>> simplify_conjunction(parse_conjunction(
    ...     "x <= 5 AND g not in {'a'} AND x <= 3 AND g not in {'b'} AND x > 1").predicates).to_text()
    "x > 1 AND x <= 3 AND g not in {'a', 'b'}"
    """
    by_col: dict[str, list[Predicate]] = {}
    for p in predicates:
        by_col.setdefault(p.column, []).append(p)
    out: list[Predicate] = []
    for column, preds in by_col.items():
        if any(p.op == "is missing" for p in preds):
            out.append(Predicate(column, "is missing"))
            out.extend(p for p in preds if p.op != "is missing")  # contradictory; kept as written
            continue
        lower, upper, ins, notins, other, present = None, None, None, set(), [], False
        eq = any(p.op in ("==", "!=") for p in preds)  # singletons are written as == / != only then
        for p in preds:
            if p.op in (">", ">="):
                cand = (p.value, p.op == ">")
                lower = cand if lower is None or cand > lower else lower
            elif p.op in ("<", "<="):
                cand = (p.value, 0 if p.op == "<" else 1)
                upper = cand if upper is None or cand < upper else upper
            elif p.op in ("in", "=="):
                vals = set(p.value) if p.op == "in" else {p.value}
                ins = vals if ins is None else ins & vals
            elif p.op in ("not in", "!="):
                vals = set(p.value) if p.op == "not in" else {p.value}
                notins |= vals
                present = True
            elif p.op == "is not missing":
                present = True
            else:
                other.append(p)
        kept: list[Predicate] = []
        if ins is not None:
            members = ins - notins
            kept.append(
                Predicate(column, "==", next(iter(members)))
                if len(members) == 1 and eq
                else Predicate(column, "in", tuple(members))
            )
        elif notins:
            kept.append(
                Predicate(column, "!=", next(iter(notins)))
                if len(notins) == 1 and eq
                else Predicate(column, "not in", tuple(notins))
            )
        if lower is not None:
            kept.append(Predicate(column, ">" if lower[1] else ">=", lower[0]))
        if upper is not None:
            kept.append(Predicate(column, "<" if upper[1] == 0 else "<=", upper[0]))
        kept.extend(other)
        if not kept and present:
            kept.append(Predicate(column, "is not missing"))
        out.extend(kept)
    return Conjunction(tuple(out))


@dataclass
class TreeNode:
    """One node of a converted tree: the branches to its children, or none for a leaf."""

    branches: list[tuple[Predicate, int]]  # empty for a leaf
    value: float  # prediction at this node (class code or value)
    leaf_id: int = -1


def convert_tree(
    est, names: list[str], encoder: Encoder, ranks: dict[str, np.ndarray], gaps, missing: set[str]
) -> tuple[list[TreeNode], list[Conjunction]]:
    """Turn a fitted sklearn tree on the internal encoding into predicate branches over raw values."""
    t = est.tree_
    classification = hasattr(est, "classes_")
    nodes: list[TreeNode] = []
    paths: list[Conjunction] = []

    def node_value(sk: int) -> float:
        v = t.value[sk][0]
        return float(est.classes_[int(np.argmax(v))]) if classification else float(v[0])

    def build(sk: int, state: dict, path: tuple) -> int:
        if t.children_left[sk] == -1:
            nodes.append(TreeNode([], node_value(sk), leaf_id=len(paths)))
            paths.append(simplify_conjunction(path))
            return len(nodes) - 1
        name = names[int(t.feature[sk])]
        col = encoder.columns[name]
        thr = float(t.threshold[sk])
        left, right = int(t.children_left[sk]), int(t.children_right[sk])
        st = state.get(name)
        if st == "missing":  # the sentinel lies below every threshold
            return build(left, state, path)
        nid = len(nodes)
        nodes.append(TreeNode([], node_value(sk)))
        branches: list[tuple[Predicate, dict, int]] = []
        sentinel_split = thr < (col.min32 if col.kind == "num" else 0.0)
        if sentinel_split:
            if st is not None:  # known present: always right
                nodes.pop()
                return build(right, state, path)
            branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
            branches.append((Predicate(name, "is not missing"), {**state, name: "present"}, right))
        elif col.kind == "num":
            u64, u32 = gaps[name]
            i = int(np.searchsorted(u32, thr, side="right"))
            a = float(u64[max(i - 1, 0)])
            b = float(u64[i]) if i < len(u64) else math.inf
            v = nice_between(a, b)
            branches.append((Predicate(name, "<=", v), {**state, name: "present"}, left))
            branches.append((Predicate(name, ">", v), {**state, name: "present"}, right))
            if st is None and name in missing:
                branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
        else:
            rank = ranks[name]
            seen = np.flatnonzero(rank < len(col.categories))
            lcodes = frozenset(int(c) for c in seen if rank[c] <= thr)
            rcodes = frozenset(int(c) for c in seen if rank[c] > thr)
            if isinstance(st, tuple) and st[0] == "in":
                allowed = st[1]
                lc, rc = lcodes & allowed, allowed - lcodes
                if not lc or not rc:
                    nodes.pop()
                    return build(left if lc else right, state, path)
                branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
            else:
                excluded = st[1] if isinstance(st, tuple) else frozenset()
                lc, rc = lcodes - excluded, rcodes - excluded
                if not lc or not rc:
                    nodes.pop()
                    return build(right if not lc else left, state, path)
                if len(lc) == 1 and len(rc) == 1 and not excluded:  # two values: name both (reads better)
                    branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                    branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
                elif len(lc) <= len(rc):
                    branches.append((_in_pred(col, lc), {**state, name: ("in", lc)}, left))
                    branches.append((_notin_pred(col, lc), {**state, name: ("not", excluded | lc)}, right))
                else:
                    branches.append((_notin_pred(col, rc), {**state, name: ("not", excluded | rc)}, left))
                    branches.append((_in_pred(col, rc), {**state, name: ("in", rc)}, right))
            if st is None and name in missing:
                branches.append((Predicate(name, "is missing"), {**state, name: "missing"}, left))
        built = []
        for pred, child_state, sk_child in branches:
            built.append((pred, build(sk_child, child_state, path + (pred,))))
        nodes[nid].branches = built
        return nid

    build(0, {}, ())
    return nodes, paths


def _in_pred(col: Column, codes: frozenset) -> Predicate:
    members = [col.categories[c] for c in sorted(codes)]
    if len(members) == 1 and not col.sets_only:
        return Predicate(col.name, "==", members[0])
    return Predicate(col.name, "in", tuple(members))


def _notin_pred(col: Column, codes: frozenset) -> Predicate:
    members = [col.categories[c] for c in sorted(codes)]
    if len(members) == 1 and not col.sets_only:
        return Predicate(col.name, "!=", members[0])
    return Predicate(col.name, "not in", tuple(members))

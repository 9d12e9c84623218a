"""StructSynth: an LLM-proposed dependency DAG, checked on the data, rows sampled in topological order.

After *StructSynth: Leveraging LLMs for Structure-Aware Tabular Data Synthesis in
Low-Data Regimes* (only a summary is in the reference set); ``docs/PAPERS.md``
(section "StructSynth") lists each step, same / differs and why, and the test.
Two stages:

1. **Structure discovery, LLM-guided**: the LLM reads the column names, kinds
   and summaries and proposes a directed acyclic graph of dependencies as JSON
   edge pairs ``[cause, effect]`` (grammar-bound on the embedded base model:
   both ends are real column names; JSON-schema-bound on chat endpoints). The
   proposal is then checked against the train rows: each edge needs support
   from a dependence test (mutual information of the binned columns above the
   95th percentile of a permutation null), unsupported edges are dropped, and
   cycles are broken greedily (edges added strongest first, an edge that would
   close a cycle is left out). The DAG is ``dag_`` (an edge list) and
   :func:`synth_core.viz.dag_figure` draws it; ``edges=`` takes a person's edited edge list and
   skips the LLM (a person's edges are kept even when the test finds little
   support; a message names them).
2. **Structure-guided generation**: columns are sampled in topological order,
   each from a model of the column given its parents fitted on the train rows
   of the approved rule's region: a shallow decision tree whose leaves are
   sampled (a train value of the leaf plus kernel noise for numbers, the leaf's
   class shares for categories); a column without parents is drawn from its
   smoothed marginal. Only rows that satisfy the rule are kept, each clause of
   an OR rule in proportion to its real rows (``_rule_id`` says which).

Where it differs from the paper, and why: the paper also uses the LLM to write
the rows, conditioned on the structure. Here **the LLM is used for structure
only** - one call per fit - and rows come from the conditional samplers: a 270M
base model writes valid but not knowledgeable rows at ~0.2-1 rows/s, while the
DAG is where an LLM's reading of column names adds what a few hundred rows
cannot show. Rows therefore carry no ``_call_id``; the structure call's id is in
``dag_call_id_`` and in the messages. If the LLM fails or no proposed edge
survives the check, the DAG falls back to a data-only Chow-Liu tree (maximum
mutual-information spanning tree rooted at the target), and a message says so.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .._validation import Constraint, InstanceOf, Interval, ListOf
from ..errors import GenerationError, InvalidParameterError, LLMError
from ..llm.client import LLMClient
from ._region import sample_inside
from .base import Generation, Generator, is_cancelled
from .htdbu import summarize_columns
from .samplellm import bin_codes, usage_before, usage_delta

__all__ = [
    "StructSynthGenerator",
    "break_cycles",
    "topological_order",
    "parse_edges",
    "format_edges",
    "dag_grammar",
    "edge_support",
]


# --------------------------------------------------------------------------- graph helpers


def parse_edges(edges, columns) -> list[tuple[str, str]]:
    """Edges from pairs or ``'a -> b'`` lines (text or list); unknown columns and self-loops raise.

    Raises
    ------
    InvalidParameterError
        An edge that names an unknown column, a self-loop, or text that is not ``a -> b``.
    """
    if edges is None:
        return []
    if isinstance(edges, str):
        edges = [line for line in edges.replace(";", "\n").splitlines() if line.strip()]
    out, known = [], set(columns)
    for item in edges:
        if isinstance(item, str):
            if "->" not in item:
                raise InvalidParameterError(f"edge {item!r} is not of the form 'cause -> effect'.")
            a, b = (part.strip() for part in item.split("->", 1))
        else:
            a, b = item
        a, b = str(a), str(b)
        bad = [c for c in (a, b) if c not in known]
        if bad:
            raise InvalidParameterError(
                f"edge {a} -> {b} names unknown column(s) {bad}; columns are {', '.join(columns)}."
            )
        if a == b:
            raise InvalidParameterError(f"edge {a} -> {b} is a self-loop.")
        if (a, b) not in out:
            out.append((a, b))
    return out


def format_edges(edges) -> str:
    """``'a -> b'`` lines (the text form ``edges=`` and the Generate page take)."""
    return "\n".join(f"{a} -> {b}" for a, b in edges)


def _reaches(adj: dict, start: str, goal: str) -> bool:
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node in seen:
            continue
        seen.add(node)
        stack.extend(adj.get(node, ()))
    return False


def break_cycles(edges) -> tuple[list, list]:
    """Keep edges in order unless one closes a cycle; (kept, dropped)."""
    adj: dict = {}
    kept, dropped = [], []
    for a, b in edges:
        if _reaches(adj, b, a):
            dropped.append((a, b))
            continue
        adj.setdefault(a, []).append(b)
        kept.append((a, b))
    return kept, dropped


def topological_order(columns, edges) -> list[str]:
    """Columns ordered so every edge points forward (Kahn; ties keep the columns' order)."""
    indeg = {c: 0 for c in columns}
    for _, b in edges:
        indeg[b] += 1
    order, ready = [], [c for c in columns if indeg[c] == 0]
    while ready:
        node = ready.pop(0)
        order.append(node)
        for a, b in edges:
            if a == node:
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
        ready.sort(key=list(columns).index)
    if len(order) != len(columns):
        raise GenerationError("the dependency graph has a cycle; break it before generating.")
    return order


def edge_support(
    frame: pd.DataFrame, schema, a: str, b: str, *, n_perm: int = 30, rng=None
) -> tuple[float, float]:
    """(mutual information of binned a and b, its permutation p-value) on ``frame``."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = bin_codes(frame[a], None, schema[a] if a in schema else None)
    y = bin_codes(frame[b], None, schema[b] if b in schema else None)
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return 0.0, 1.0
    mi = mutual_info_score(x, y)
    null = np.array([mutual_info_score(rng.permutation(x), y) for _ in range(n_perm)])
    return float(mi), float((1 + (null >= mi).sum()) / (n_perm + 1))


def chow_liu(frame: pd.DataFrame, schema, columns, root: str) -> list[tuple[str, str]]:
    """Maximum mutual-information spanning tree, edges pointing away from ``root``."""
    codes = {c: bin_codes(frame[c], None, schema[c] if c in schema else None) for c in columns}
    in_tree, edges = {root}, []
    while len(in_tree) < len(columns):
        best = None
        for a in in_tree:
            for b in columns:
                if b in in_tree:
                    continue
                mi = mutual_info_score(codes[a], codes[b])
                if best is None or mi > best[0]:
                    best = (mi, a, b)
        edges.append((best[1], best[2]))
        in_tree.add(best[2])
    return edges


def dag_grammar(columns, *, max_edges: int = 12) -> str:
    """GBNF for ``{"edges": [["a", "b"], ...]}`` with 1 to ``max_edges`` pairs of column names."""
    from ..llm.grammar import gbnf_literal

    names = " | ".join(gbnf_literal(json.dumps(str(c), ensure_ascii=False)) for c in columns)
    return (
        "\n".join(
            [
                'root ::= "{\\"edges\\": [" edge ( ", " edge ){0,' + str(max(max_edges, 1) - 1) + '} "]}"',
                'edge ::= "[" col ", " col "]"',
                f"col ::= {names}",
            ]
        )
        + "\n"
    )


def _edges_schema(columns, max_edges: int) -> dict:
    name = {"type": "string", "enum": [str(c) for c in columns]}
    return {
        "type": "object",
        "properties": {
            "edges": {
                "type": "array",
                "maxItems": max_edges,
                "items": {"type": "array", "items": name, "minItems": 2, "maxItems": 2},
            }
        },
        "required": ["edges"],
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------- conditional samplers


class _Column:
    """One column given its parents: leaf-sampling decision tree, or a smoothed marginal without parents."""

    def __init__(self, col, parents, schema, *, min_leaf: int = 5, max_depth: int = 4, random_state=0):
        self.col, self.parents, self.schema = col, list(parents), schema
        self.min_leaf, self.max_depth, self.random_state = min_leaf, max_depth, random_state

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for p in self.parents:
            spec = self.schema[p]
            if spec.is_numeric:
                v = pd.to_numeric(frame[p], errors="coerce").to_numpy(dtype=float)
                cols.append(np.where(np.isnan(v), self.fill_[p], v))
            else:
                table = self.levels_[p]
                cols.append(
                    np.array([table.get(str(v), -1) if pd.notna(v) else -2 for v in frame[p]], dtype=float)
                )
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def fit(self, frame: pd.DataFrame) -> _Column:
        spec = self.schema[self.col]
        self.numeric_ = spec.is_numeric and not spec.categories
        s = frame[self.col]
        self.missing_ = float(s.isna().mean())
        present = frame[s.notna()]
        self.fill_ = {
            p: float(pd.to_numeric(frame[p], errors="coerce").median())
            for p in self.parents
            if self.schema[p].is_numeric
        }
        self.levels_ = {
            p: {v: i for i, v in enumerate(pd.unique(frame[p].dropna().astype(str)))}
            for p in self.parents
            if not self.schema[p].is_numeric
        }
        y = present[self.col]
        if self.numeric_:
            self.values_ = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
        else:
            self.values_ = y.astype(object).to_numpy()
        self.tree_ = None
        if self.parents and len(present) >= 2 * self.min_leaf:
            cls = DecisionTreeRegressor if self.numeric_ else DecisionTreeClassifier
            self.tree_ = cls(
                max_depth=self.max_depth, min_samples_leaf=self.min_leaf, random_state=self.random_state
            )
            target = self.values_ if self.numeric_ else y.astype(str).to_numpy()
            self.tree_.fit(self._x(present), target)
            self.leaf_of_ = self.tree_.apply(self._x(present))
        return self

    def _bandwidth(self, values: np.ndarray) -> float:
        if len(values) < 2:
            return 0.0
        sd = float(np.std(values))
        iqr = float(np.subtract(*np.quantile(values, [0.75, 0.25])))
        scale = min(sd, iqr / 1.34) if iqr > 0 else sd
        return 0.9 * scale * len(values) ** (-0.2)

    def sample(self, frame: pd.DataFrame, rng) -> np.ndarray:
        n = len(frame)
        if len(self.values_) == 0:
            return np.full(n, np.nan, dtype=object)
        if self.tree_ is None:
            groups = {None: np.arange(len(self.values_))}
            leaves = np.full(n, None, dtype=object)
        else:
            leaves = self.tree_.apply(self._x(frame))
            groups = {leaf: np.flatnonzero(self.leaf_of_ == leaf) for leaf in np.unique(leaves)}
        out = np.empty(n, dtype=float if self.numeric_ else object)
        for leaf, members in groups.items():
            where = np.flatnonzero(leaves == leaf) if self.tree_ is not None else np.arange(n)
            if len(where) == 0:
                continue
            pool = self.values_[members] if len(members) else self.values_
            pick = pool[rng.integers(len(pool), size=len(where))]
            if self.numeric_:
                bw = self._bandwidth(pool)
                pick = pick.astype(float) + (rng.normal(0, bw, size=len(where)) if bw > 0 else 0.0)
                spec = self.schema[self.col]
                lo, hi = np.nanmin(self.values_), np.nanmax(self.values_)
                if spec.min is not None:
                    lo, hi = min(lo, spec.min), max(hi, spec.max)
                pick = np.clip(pick, lo, hi)
                if spec.kind == "integer":
                    pick = np.round(pick)
            out[where] = pick
        if self.missing_ > 0:
            hole = rng.random(n) < self.missing_
            out = out.astype(object) if not self.numeric_ else out
            out[hole] = np.nan
        return out


# --------------------------------------------------------------------------- generator


class _EdgePair(Constraint):
    """A ``(cause, effect)`` pair of column names (a list or tuple of two str), one item of ``edges=``."""

    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)

    def __str__(self) -> str:
        return "a (cause, effect) pair of str"


_EDGE_PAIR = _EdgePair()


class StructSynthGenerator(Generator):
    """StructSynth: LLM-proposed dependency DAG (checked on train rows), rows in topological order.

    Parameters
    ----------
    client : LLMClient, optional
        The LLM (the pipeline passes one; default :func:`synth_core.llm.get_client` when needed).
    edges : list of (str, str), str or None
        A person's DAG (pairs, or ``'a -> b'`` lines); skips the LLM. Cycles are still broken.
    max_edges : int
        Most edges asked of the LLM.
    alpha : float
        Significance of the permutation dependence test an LLM edge must pass.
    min_leaf : int
        Smallest leaf of the conditional trees.
    iterations : int
        Batches per rule (each batch one MDS arm).
    random_state : int or None

    Attributes
    ----------
    dag_ : list of (str, str)
        The DAG in use (after the data check and cycle breaking).
    dag_source_ : {'llm', 'person', 'data'}
    proposed_edges_ : list of (str, str)
        What the LLM proposed, before the check.
    dropped_edges_ : list of (str, str, str)
        Edges left out, with the reason.
    dag_call_id_ : str
    order_ : list of str
        The topological order the columns are sampled in.
    """

    name = "structsynth"
    needs_llm = True

    _parameter_constraints = {
        "client": [InstanceOf(LLMClient, what="an LLMClient"), None],
        "edges": [InstanceOf(str), ListOf([InstanceOf(str), _EDGE_PAIR], min_length=0), None],
        "max_edges": [Interval(int, 1, None)],
        "alpha": [Interval(float, 0, 1, closed="right")],
        "min_leaf": [Interval(int, 1, None)],
        "iterations": [Interval(int, 1, None)],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(
        self,
        *,
        client=None,
        edges=None,
        max_edges: int = 12,
        alpha: float = 0.05,
        min_leaf: int = 5,
        iterations: int = 2,
        random_state=None,
    ):
        self.client = client
        self.edges = edges
        self.max_edges = max_edges
        self.alpha = alpha
        self.min_leaf = min_leaf
        self.iterations = iterations
        self.random_state = random_state

    def structure(self) -> dict:
        """``{'dag': [[cause, effect], ...], 'dag_source': 'llm' | 'person' | 'data'}`` once generated."""
        if getattr(self, "dag_", None) is None:
            return {}
        return {"dag": [[a, b] for a, b in self.dag_], "dag_source": self.dag_source_}

    def pinned_params(self) -> dict:
        """``{'edges': [[cause, effect], ...]}`` once a DAG is known (possibly empty): copies use it instead
        of asking the LLM."""
        if getattr(self, "dag_", None) is None:
            return {}
        return {"edges": [[a, b] for a, b in self.dag_]}

    def planned_calls(self, n: int, n_rules: int) -> int:
        """One call for the DAG (none with a person's edges); rows come from the tree samplers."""
        return 0 if self.edges is not None and str(self.edges).strip() else 1

    def _fit(self):
        """Read a person's ``edges`` (if any) and fit the column samplers on them; without edges the DAG is
        asked of the LLM by :meth:`discover` when rows are generated."""
        self.notes_ = []
        self.proposed_edges_, self.dropped_edges_, self.dag_call_id_ = [], [], ""
        self.dag_ = None
        if self.edges is not None and not (isinstance(self.edges, str) and not self.edges.strip()):
            edges = parse_edges(self.edges, self.columns_)
            self._set_dag(edges, source="person")

    def _set_dag(self, edges, *, source: str):
        kept, dropped = break_cycles(edges)
        self.dropped_edges_ += [(a, b, "closes a cycle") for a, b in dropped]
        if dropped:
            self.notes_.append(
                "StructSynth: edge(s) "
                + ", ".join(f"{a} -> {b}" for a, b in dropped)
                + " closed a cycle and were left out."
            )
        if source == "person":
            rng = np.random.default_rng(0)
            weak = [
                (a, b)
                for a, b in kept
                if edge_support(self.train_, self.dataset_.schema, a, b, rng=rng)[1] > float(self.alpha)
            ]
            if weak:
                self.notes_.append(
                    "StructSynth: the train rows show little support for the given edge(s) "
                    + ", ".join(f"{a} -> {b}" for a, b in weak)
                    + " (kept: a person's edges win)."
                )
        self.dag_, self.dag_source_ = kept, source
        self.order_ = topological_order(self.columns_, kept)
        self._fit_samplers()

    def _fit_samplers(self):
        parents = {c: [a for a, b in self.dag_ if b == c] for c in self.columns_}
        schema = self.dataset_.schema
        self.samplers_, self.regions_ = {}, {}
        whole = self.train_[self.columns_]
        for rule in self.rules_:
            region = self.train_[rule.mask(self.train_)][self.columns_]
            self.regions_[rule.id] = region
            rows = region if len(region) >= 4 * int(self.min_leaf) else whole
            self.samplers_[rule.id] = [
                _Column(
                    c,
                    parents[c],
                    schema,
                    min_leaf=int(self.min_leaf),
                    random_state=self.random_state if self.random_state is not None else 0,
                ).fit(rows)
                for c in self.order_
            ]

    def discover(self):
        """Ask the LLM for the DAG, check it on the train rows; sets ``dag_`` (falls back to data only).

        Returns
        -------
        list of (str, str)
        """
        from ..llm import prompts
        from ..llm.budget import fit_table_prompt

        ds = self.dataset_
        columns = self.columns_
        k = int(self.max_edges)
        proposed, error = [], None
        try:
            if self.client is None:
                from ..llm import get_client

                self.client = get_client()
            client = self.client
            schema = _edges_schema(columns, k)
            chat = client.api == "chat"

            def render(described, summary):  # fitted to the model's context: summaries shortened if need be
                if not chat:
                    return prompts.STRUCTSYNTH_DAG_COMPLETION.render(
                        columns=described, target=json.dumps(ds.target), task=ds.task, summary=summary
                    )
                return [
                    {"role": "system", "content": prompts.STRUCTSYNTH_DAG_CHAT_SYSTEM.render()},
                    {
                        "role": "user",
                        "content": prompts.STRUCTSYNTH_DAG_CHAT_USER.render(
                            columns=described,
                            target=json.dumps(ds.target),
                            task=ds.task,
                            summary=summary,
                            k=k,
                        ),
                    },
                ]

            fitted = fit_table_prompt(
                client,
                render,
                schema=ds.schema,
                columns=columns,
                max_tokens=40 * k + 60 if chat else 16 * k + 24,
                summarize=lambda m: summarize_columns(self.train_, ds.schema, columns, max_categories=m),
                what="the StructSynth DAG prompt",
            )
            if fitted.note:
                self.notes_.append(f"StructSynth: the DAG prompt was {fitted.note}.")
            if chat:
                value, comp = client.chat_json(
                    fitted.prompt,
                    schema=schema,
                    name="dag",
                    max_tokens=40 * k + 60,
                    temperature=0.3,
                    tag="structsynth-dag",
                )
            else:
                grammar = dag_grammar(columns, max_edges=k) if client.constrain == "grammar" else None
                value, comp = client.complete_json(
                    fitted.prompt,
                    schema=schema,
                    grammar=grammar,
                    max_tokens=16 * k + 24,
                    temperature=0.3,
                    tag="structsynth-dag",
                )
            self.dag_call_id_ = comp.call_id
            for pair in value.get("edges", []):
                a, b = str(pair[0]), str(pair[1])
                if (
                    a != b
                    and a in columns
                    and b in columns
                    and (a, b) not in proposed
                    and (b, a) not in proposed
                ):
                    proposed.append((a, b))
        except LLMError as exc:
            error = exc
        self.llm_error_ = error
        self.proposed_edges_ = proposed
        rng = np.random.default_rng(self.random_state if self.random_state is not None else 0)
        scored = []
        for a, b in proposed:
            mi, p = edge_support(self.train_, ds.schema, a, b, rng=rng)
            if p > float(self.alpha):
                self.dropped_edges_.append((a, b, f"no support on train rows (MI {mi:.3f}, p {p:.2f})"))
            else:
                scored.append((mi, a, b))
        supported = [(a, b) for _, a, b in sorted(scored, reverse=True)]
        if error is not None:
            self.notes_.append(
                f"StructSynth: the LLM structure call failed ({error}); using a data-only "
                "Chow-Liu tree rooted at the target instead."
            )
        elif not supported:
            self.notes_.append(
                f"StructSynth: none of the {len(proposed)} edge(s) the LLM proposed has support on "
                "the train rows; using a data-only Chow-Liu tree rooted at the target instead."
            )
        else:
            self.notes_.append(
                f"StructSynth: the LLM proposed {len(proposed)} edge(s) (call {self.dag_call_id_}); "
                f"{len(supported)} have support on the train rows."
            )
        if self.dropped_edges_:
            self.notes_.append(
                "StructSynth: left out "
                + "; ".join(f"{a} -> {b} ({why})" for a, b, why in self.dropped_edges_[:8])
            )
        if supported:
            self._set_dag(supported, source="llm")
        else:
            self._set_dag(chow_liu(self.train_, ds.schema, columns, ds.target), source="data")
        return self.dag_

    def generate(self, n: int, *, progress=None, cancel=None):
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        before = usage_before(self.client) if self.client is not None else {}
        if self.dag_ is None:
            if progress:
                progress(0, 1, "structsynth: asking the LLM for the dependency DAG")
            if is_cancelled(cancel):
                return Generation(
                    rows=self._empty(), messages=["cancelled before the structure call."], cancelled=True
                )
            self.discover()
        out = super().generate(n, progress=progress, cancel=cancel)
        out.messages[:0] = list(self.notes_) + [
            f"StructSynth DAG ({self.dag_source_}): "
            + (", ".join(f"{a} -> {b}" for a, b in self.dag_) or "no edges")
            + f"; sampling order {', '.join(self.order_)}."
        ]
        self.notes_ = []
        out.usage = usage_delta(self.client, before) if self.client is not None else {}
        out.error = getattr(self, "llm_error_", None)
        return out

    def _generate_rule(self, rule, n, iteration, rng):
        samplers = self.samplers_[rule.id]

        def draw(k):
            frame = pd.DataFrame(index=range(max(int(k * 3), 16)))
            for s in samplers:
                frame[s.col] = s.sample(frame, rng)
            return frame[self.columns_]

        return sample_inside(draw, rule, n, self.dataset_.schema, rng, real=self.regions_[rule.id], rounds=6)

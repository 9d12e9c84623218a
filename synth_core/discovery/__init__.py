"""DATE Algorithm 1: distribution-guiding rule (DGR) discovery.

:class:`DGRDiscoverer` splits the *train* rows of a :class:`~synth_core.data.Dataset`
into sub-populations, each described by a readable rule and fitted by a small
decision tree (its *shared model*) with error at most ``rho``.
:class:`SharedModel` is the reusable piece: a fitted decision tree over raw
DataFrame rows whose root-to-leaf paths are :class:`~synth_core.rules.Conjunction`
objects over the original column values, so DATE generation can group rows by
tree path.

The algorithm, as implemented
-----------------------------
The search is the top-down loop of Alg. 1 over *candidate conjunctions* ``r``,
starting from ``TRUE`` (all train rows), popped from a priority queue ordered by
``ind(r)`` (highest first, then larger support):

1. **Model sharing** (Alg. 1 lines 6-8). The pool of a candidate is the models
   trained on its ancestors (the "identical prefixes" of Proposition 2 and
   Example 1). If one of them has error ``<= rho`` on the candidate's rows, the
   candidate is accepted with that model and nothing is trained
   (``n_models_shared_`` counts these). The root-most fitting model is used, so
   that as many rules as possible share one model and fuse (Proposition 3).
2. Otherwise a model is trained on the candidate's rows (lines 11-15). If its
   error is ``<= rho`` the candidate is accepted.
3. Otherwise the candidate is split (lines 17-20): the predicates ``P'`` are
   the two sides of the **root split of the model just trained**, i.e. the
   lowest-impurity split (Gini for classification, squared error for
   regression) on the candidate's rows, so no extra model is fitted. When a
   column has missing values among those rows, a third child ``col is missing``
   is added (see below). If that split leaves a side below ``min_support`` rows,
   a stump with ``min_samples_leaf=min_support`` is fitted instead. Children
   below ``min_support`` rows are not searched; their rows are the
   *remainder*.
4. A candidate at ``max_depth`` predicates, with fewer than ``2 * min_support``
   rows, with no possible split, or whose split leaves every side below
   ``min_support`` rows is a *leaf that does not fit*: it is still
   reported (so every searched row is covered), with the lowest-error model
   available, ``error > rho`` and a note saying which limit stopped it.
   ``summary()`` shows this as ``fits == False``.

Accepted and non-fitting leaves are the *regions* (``regions_``): the rules
before fusion. **Fusion** (Proposition 3) then joins the regions that share one
model (and agree on ``fits``) into one DNF rule; sibling regions that together
make up their parent are written as the parent's conjunction. If more than
``max_rules`` rules remain, the smallest rule is merged into the rule whose
model fits the union best, repeatedly (``merged_`` records every fusion and
merge, with the error before and after).

Choices where the paper is ambiguous
------------------------------------
* **Error.** Alg. 1 line 12 writes a per-tuple maximum error. With 0/1 loss the
  maximum is 1 as soon as one row is misclassified, so any ``rho < 1`` would
  force a split down to pure rows; for regression the maximum absolute error
  follows the noisiest row. We use the *mean* loss instead, as the design asks:
  error rate for classification, MSE for regression, and by default
  (``error="relative"``) MSE divided by the variance of the target over the
  train rows, so that one ``rho`` works across tables (the root's relative
  error is ``1 - R^2`` of a tree fitted to all rows). Problem 1 defines the
  regression error as the mean *absolute* error; ``error="mae"`` is that
  definition, and the ``paper`` preset uses it (``docs/PAPERS.md`` says why
  the product keeps the relative MSE).
* **Default rho.** 0.05 for classification (the paper's value). 0.1 for
  relative regression error (a shared model must explain 90% of the target
  variance, measured against the whole train split, inside its rule). With
  ``error="mse"`` and ``rho=None`` the threshold is 0.1 times the target
  variance, i.e. the same cut expressed in the target's squared units (a fixed
  10 as in the paper only makes sense for one target scale).
* **rho updates.** Lines 7 and 13 overwrite ``rho`` with the error just
  reached, which would make every later rule stricter and the result depend on
  the visiting order. We keep ``rho`` fixed and record each rule's own error
  as its ``rho_m`` (``Rule.error``); by Proposition 4 a rule with error
  ``rho_m <= rho`` is also a rule for ``rho``.
* **ind(r)** (line 10) is the share of a rule's rows that a model predicts
  within tolerance, maximised over the models available: for classification a
  row is within tolerance when it is predicted correctly, for regression when
  its squared error (relative, if ``error="relative"``) is ``<= rho``. The
  queue uses it over the candidate's pool; a final rule's ``ind`` is maximised
  over the shared models in ``models_``. Rules are listed fitting ones first,
  then by ``ind`` and support, and numbered ``R1, R2, ...`` in that order.
* **Theorem 1** bounds ``|P'|`` by the rows of ``T_r``; on tables of thousands
  of rows that is not a usable budget. We take the sides of the best split
  (two, three with missing values) and bound the search with ``max_depth``,
  ``min_support`` and ``max_models`` instead, so it cannot run away.

Why smaller rho never gives fewer rules (before fusion)
-------------------------------------------------------
Which conjunctions the search can visit does not depend on ``rho``: each split
is the root split of a tree fitted on the candidate's rows with a fixed seed,
and the sharing pool of a candidate is the models of its ancestors, which were
all trained (an ancestor was split, so it trained a model that failed). A
candidate stops when ``min(pool errors, own error) <= rho`` (with sharing) or
``own error <= rho`` (without): a test of a ``rho``-free number against
``rho``. So the set of split candidates only grows as ``rho`` shrinks. A
candidate is only split when at least one side keeps ``min_support`` rows, so
the number of regions, ``1 + sum(children kept - 1)`` over split candidates,
never decreases. The guarantee holds for ``len(regions_)`` with a fixed integer
``random_state`` (trees break ties at random) whenever ``max_models`` did not
stop the search (a warning says when it did). Fusion and the ``max_rules`` cap
can change the count after that; the tests check the regions over a grid of
``rho``.

Encoding and missing values
---------------------------
Trees are fitted on an internal encoding, but every predicate is written and
evaluated on the original values with the mask semantics of
:mod:`synth_core.rules` (a missing cell satisfies only ``is missing``):

* numeric and integer columns keep their values; a missing cell is replaced,
  for the tree only, by a sentinel below the observed range. A split between
  the sentinel and the values becomes ``col is missing`` / ``col is not missing``
  (the latter matches exactly the present values). Any other split becomes
  ``col <= v`` / ``col > v``, with ``v`` the roundest number that splits the
  train values the same way, plus ``col is missing`` for the missing rows
  that the tree sent along the lower side (tree paths duplicate that subtree).
* categorical and boolean columns are encoded per model by ordering their
  categories by the target mean (regression) or by the share of the model's
  majority class (classification), so a threshold splits the categories into
  two sets; predicates are ``col in {...}`` / ``col == v`` on the original
  values, with ``not in`` / ``!=`` on the side where listing would be longer
  (categories never seen in training go to that side). A split of two single
  values names both (``flag == true`` / ``flag == false``); a value never seen
  in training then matches neither side (leaf ``-1`` in :class:`SharedModel`).
* columns of kind ``datetime``, ``text`` and ``id`` are not used (a warning
  lists them).

Modules (each readable in one sitting; everything public is re-exported here,
so ``from synth_core.discovery import X`` is the way to import)::

    encoding.py      which columns are used and how trees see them; predicates on that encoding
    paths.py         a fitted tree's root-to-leaf paths as conjunctions; simplify_conjunction
    shared_model.py  SharedModel (a tree over raw rows, its paths as rules), tree_paths
    training.py      fitting the evaluation trees; the target and its error (rate, MSE, MAE)
    search.py        the priority-queue search of Alg. 1 (Region) and fusion (Proposition 3)
    estimator.py     DGRDiscoverer: parameters, fit, the max_rules cap, the rules and their notes
    report.py        discover_report: a fitted discoverer as plain text

Examples
--------
>>> import numpy as np, pandas as pd
>>> from synth_core.data import make_dataset
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.random(400), "g": rng.choice(["a", "b"], 400)})
>>> df["y"] = np.where(df.x > 0.5, "hi", "lo")
>>> ds = make_dataset(df, target="y", seed=0)
>>> disc = DGRDiscoverer(random_state=0).fit(ds)
>>> disc.rules_[0].text, disc.rules_[0].error
('TRUE', 0.0)
"""

from __future__ import annotations

from .estimator import DEFAULT_RHO_CLASSIFICATION, DEFAULT_RHO_RELATIVE, ERRORS, DGRDiscoverer
from .paths import simplify_conjunction
from .report import discover_report
from .search import Region
from .shared_model import SharedModel, tree_paths

__all__ = [
    "DGRDiscoverer",
    "SharedModel",
    "Region",
    "discover_report",
    "tree_paths",
    "simplify_conjunction",
    "DEFAULT_RHO_CLASSIFICATION",
    "DEFAULT_RHO_RELATIVE",
    "ERRORS",
]

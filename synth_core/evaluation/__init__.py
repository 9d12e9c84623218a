"""Evaluation of synthetic rows: utility, fidelity, diagnostics, detection, privacy, compliance, diversity.

Fidelity (column shapes, pair trends, the overall score) and diagnostics (data
validity, data structure) are SDMetrics' own figures: ``sdmetrics``' quality
and diagnostic reports run on the rows, with metadata built from the
:class:`~synth_core.data.Schema` (:mod:`~synth_core.evaluation.sdmetrics_bridge`).
The other metrics are the product's, each module saying why SDMetrics' nearest
metric does not serve: detection, privacy (DCR, NNDR, exact copies), rule
compliance and diversity.

Every metric is a small stateless class after SDMetrics: class attributes
``name``, ``goal`` (:class:`Goal`), ``min_value`` and ``max_value``, and
classmethods ``compute(real, synthetic, *, schema)`` (one float) and
``compute_breakdown(...)`` (a dict holding ``"score"`` and the details).
Metrics that train a model (detection) take the model and ``random_state`` as
arguments and record them in the breakdown.

:data:`METRICS` is the explicit registry (name -> class) that pages and the
report list; import order cannot change it. :class:`Report` runs them all on a
selection of synthetic rows (:func:`select_rows`), with augmentation utility
from :mod:`synth_core.evaluation.utility` when asked, and stores a failing
metric's error instead of failing. :func:`embed_tsne` gives the cached t-SNE map
that :mod:`synth_core.viz` draws.

Modules: ``fidelity`` (SDMetrics' column shapes and pair trends, the shared
base), ``diagnostics`` (SDMetrics' diagnostic report), ``sdmetrics_bridge``
(metadata, prepared rows, caps), ``detection``, ``privacy`` (DCR, NNDR, exact
copies), ``compliance`` (rules), ``diversity`` (DATE Definition 5, row
coverage), ``utility`` (augmentation, TSTR), ``embedding`` (t-SNE), ``report``.
"""

from __future__ import annotations

from .compliance import RuleCompliance, rule_summary
from .detection import DetectionAUC
from .diagnostics import Diagnostics
from .diversity import RowCoverage, RuleDiversity
from .embedding import Embedding, clear_embedding_cache, embed_tsne, embedding_cache_info
from .fidelity import ColumnPairTrends, ColumnShapes, Fidelity, Goal, Metric, resolve_columns, select_rows
from .privacy import DistanceToClosestRecord, ExactCopies, NearestNeighbourDistanceRatio
from .report import DEFAULT_METRICS, Report  # reads METRICS lazily, when a report is generated
from .utility import augmentation_utility, tstr

#: Every metric by name; the report and the Compare page list exactly these.
METRICS: dict[str, type[Metric]] = {
    "fidelity": Fidelity,
    "column_shapes": ColumnShapes,
    "pair_trends": ColumnPairTrends,
    "diagnostics": Diagnostics,
    "detection_auc": DetectionAUC,
    "dcr": DistanceToClosestRecord,
    "nndr": NearestNeighbourDistanceRatio,
    "exact_copies": ExactCopies,
    "rule_compliance": RuleCompliance,
    "rule_diversity": RuleDiversity,
    "row_coverage": RowCoverage,
}


__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "ColumnPairTrends",
    "ColumnShapes",
    "DetectionAUC",
    "Diagnostics",
    "DistanceToClosestRecord",
    "Embedding",
    "ExactCopies",
    "Fidelity",
    "Goal",
    "Metric",
    "NearestNeighbourDistanceRatio",
    "Report",
    "RowCoverage",
    "RuleCompliance",
    "RuleDiversity",
    "augmentation_utility",
    "clear_embedding_cache",
    "embed_tsne",
    "embedding_cache_info",
    "resolve_columns",
    "rule_summary",
    "select_rows",
    "tstr",
]

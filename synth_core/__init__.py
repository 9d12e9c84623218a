"""synth_core: rule-guided synthetic rows for small or imbalanced tables.

The library behind the app: load a table (:mod:`synth_core.data`), discover
DATE's distribution-guiding rules (:mod:`synth_core.discovery`), read and edit
them as text (:mod:`synth_core.rules`), generate rows per approved rule with an
LLM or an offline generator (:mod:`synth_core.generators`), label them with a
teacher (:mod:`synth_core.labels`), select them (MDS), evaluate them
(:mod:`synth_core.evaluation`) and keep everything in a bundle
(:mod:`synth_core.run`). It never imports streamlit.
"""

import os as _os

# Idle OpenMP threads (HistGradientBoosting's) sleep instead of spinning: on a laptop's two busy cores a
# spinning pool slowed every fit several times over. Set before scikit-learn loads its OpenMP runtime.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .data import ColumnSpec, Dataset, Schema, load_dataset, load_table, make_dataset  # noqa: E402
from .errors import SynthError  # noqa: E402
from .rules import Conjunction, Predicate, Rule, format_rule, parse_rule  # noqa: E402

__all__ = [
    "ColumnSpec",
    "Conjunction",
    "Dataset",
    "Predicate",
    "Rule",
    "Schema",
    "SynthError",
    "format_rule",
    "load_dataset",
    "load_table",
    "make_dataset",
    "parse_rule",
    "__version__",
]

__version__ = "0.1.0"

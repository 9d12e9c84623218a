"""Named presets per generator: ``product`` (the project's measured choices) and ``paper`` (the paper's steps).

A preset is a set of generator parameters and run settings. ``paper`` follows the
generator's paper step by step; where a published step cannot run here the help
text says so, and ``docs/PAPERS.md`` lists every line of each paper with the
function that implements it, whether it is the same or differs (and why), and
the test that shows it. ``product`` is what the project runs by default; the
benchmark (``benchmarks/augment_paper.py``) puts DATE's two presets side by side.

>>> preset_names("date")
('product', 'paper')
>>> sorted(resolve_preset("date", "paper").generator.items())
[('iterations', 3), ('n_refinements', 1), ('preset', 'paper')]
>>> resolve_preset("date", "paper").run["n_pulls"]
200
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidParameterError

__all__ = ["Preset", "PRESETS", "preset_names", "resolve_preset", "preset_params"]


@dataclass(frozen=True)
class Preset:
    """A named set of generator parameters and run settings.

    Attributes
    ----------
    name : {'product', 'paper'}
    label : str
        How the app and the command line name it.
    generator : dict
        Generator parameters. A ``paper`` preset's win over the caller's (changing them would no longer be
        the paper); a ``product`` preset's are defaults the caller may change.
    run : dict
        :func:`~synth_core.pipeline.run_pipeline` settings it implies (selection and its parameters).
    help : str
        What it does, what it costs, and which published steps cannot run here.
    """

    name: str
    label: str
    generator: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    help: str = ""

    @property
    def fixed(self) -> bool:
        return self.name == "paper"


_DATE_PRODUCT = Preset(
    "product",
    "Product (measured defaults)",
    generator={"preset": "product", "iterations": 2},
    run={"selection": "mds", "selection_preset": "product"},
    help=(
        "DATE as the project runs it: I = 2 iterations; a path group is kept when its mean error is within "
        "rho; every kept group's rows go to the row selection (MDS) and the cross-fitted check, which decide "
        "what to keep; refined rules write rows only once approved. Costs about one LLM call per 5 rows plus "
        "one refinement call per rule and iteration."
    ),
)

_DATE_PAPER = Preset(
    "paper",
    "Paper (DATE as published)",
    generator={"preset": "paper", "iterations": 3, "n_refinements": 1},
    run={"selection": "mds", "selection_preset": "paper", "alpha": 0.8, "n_pulls": 200, "oversample": 1.0},
    help=(
        "DATE Alg. 2 and 3 step by step: I = 3, rho_m = the shared model's error on its rule's rows (error "
        "rate, mean absolute error), a path group is kept only when every row is within rho_m, groups with no "
        "validation gain (Delta <= 0) are dropped, kept groups join the examples of the next prompts, the "
        "paper's DGR prompt with stratified examples, a group stops when its validation score stops improving, "
        "one refined rule per step (written only once approved); MDS with one arm per path group, quality "
        "rho_m - Delta, the UCB bonus as published, n = 200 bandit pulls, alpha = 0.8. Costs up to one LLM call "
        "per 5 rows plus one refinement call per rule and iteration, and 200 model fits for MDS. Not run here: "
        "the paper's hosted reasoning model (deepseek-r1) — the embedded 270M model or your endpoint writes the "
        "rows."
    ),
)

_SAMPLELLM_PRODUCT = Preset(
    "product",
    "Product (measured defaults)",
    generator={"preset": "product"},
    help=(
        "K-medoids exemplars of each approved rule's rows, one per prompt and cluster; importance weights "
        "from a regularised real-vs-synthetic discriminator over the feature groups (stable on small pools); "
        "feature groups from mutual information."
    ),
)

_SAMPLELLM_PAPER = Preset(
    "paper",
    "Paper (SampleLLM as published)",
    generator={"preset": "paper"},
    help=(
        "SampleLLM Alg. 1: K-means over the whole table, one random exemplar per cluster per prompt; feature "
        "interactions from a neural network's second-order attributions (Eq. 10-11, a small scikit-learn MLP "
        "with finite-difference Hessians); Eq. 14 weights from the raw cell frequencies of the feature groups "
        "and two label models; importance resampling. Not run here: the instruction chosen among five "
        "hand-written ones and refined by chain-of-thought over the data set's official documents (Sec. 2.3) "
        "needs an instruction-following hosted model and those documents; the embedded base model follows "
        "no instruction. The paper's Llama-3-70B is replaced by the configured model."
    ),
)

_HTDBU_PRODUCT = Preset(
    "product",
    "Product (measured defaults)",
    generator={"preset": "product"},
    help=(
        "LLM skeleton, Gaussian copulas per rule, feedback rounds judged by TSTR with your model (a decision "
        "tree by default) on validation rows and a per-column TVD."
    ),
)

_HTDBU_PAPER = Preset(
    "paper",
    "Paper (H-TDBU as published)",
    generator={"preset": "paper"},
    help=(
        "As the product, with TSTR judged by logistic regression (ridge regression for a number target), "
        "the paper's model. Not run here: TSTR on the test set (held-out rows never judge a choice here, so "
        "validation rows do), the XModal text metric (tables here have no text modality; per-column TVD "
        "instead) and the RandomForest / XGBoost / CTGAN / TVAE bottom-up samplers (CTGAN and TVAE need a "
        "GPU-class deep-learning stack not installed here; the Gaussian copula writes the rows)."
    ),
)

_STRUCTSYNTH_PRODUCT = Preset(
    "product",
    "Product (measured defaults)",
    generator={},
    help="One LLM call for the dependency DAG, checked on the data; rows from conditional samplers in "
    "topological order.",
)

_STRUCTSYNTH_PAPER = Preset(
    "paper",
    "Paper (StructSynth, as far as it runs here)",
    generator={},
    help=(
        "The same steps as the product: the LLM proposes the dependency DAG and the data checks it. Not run "
        "here: the paper's second stage, where the LLM writes every row conditioned on the DAG; rows come from "
        "conditional samplers (the paper's full text is not in the project's reference set, only a summary, so "
        "its prompt cannot be followed)."
    ),
)

PRESETS: dict[str, dict[str, Preset]] = {
    "date": {"product": _DATE_PRODUCT, "paper": _DATE_PAPER},
    "samplellm": {"product": _SAMPLELLM_PRODUCT, "paper": _SAMPLELLM_PAPER},
    "htdbu": {"product": _HTDBU_PRODUCT, "paper": _HTDBU_PAPER},
    "structsynth": {"product": _STRUCTSYNTH_PRODUCT, "paper": _STRUCTSYNTH_PAPER},
    "statistical": {
        "product": Preset(
            "product", "Product", help="The project's own offline generator (no paper behind it)."
        )
    },
    "jitter": {
        "product": Preset(
            "product", "Product", help="The project's own offline generator (no paper behind it)."
        )
    },
}


def preset_names(method: str) -> tuple[str, ...]:
    """The presets ``method`` offers (``('product',)`` for generators that follow no paper)."""
    return tuple(PRESETS.get(method, {"product": None}))


def resolve_preset(method: str, name: str | None) -> Preset:
    """The preset ``name`` of ``method`` (``None``: product); an unknown name raises InvalidParameterError."""
    name = name or "product"
    table = PRESETS.get(method, {"product": Preset("product", "Product")})
    if name not in table:
        raise InvalidParameterError(
            f"{method} has no {name!r} preset; it offers {', '.join(table)}"
            + (" (it follows no paper)." if name == "paper" else ".")
        )
    return table[name]


def preset_params(method: str, name: str | None, params: dict | None) -> dict:
    """Generator parameters for ``method`` under preset ``name``: a paper preset's fixed values win over
    ``params``, a product preset's are defaults under them."""
    p = resolve_preset(method, name)
    params = dict(params or {})
    return {**params, **p.generator} if p.fixed else {**p.generator, **params}

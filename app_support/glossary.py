"""The words of DATE and of this app, explained once, for tooltips and glossary lines on every page.

Use :func:`help_for` for a widget's ``help=`` tooltip and :func:`glossary_lines`
for a "What the words mean" list. Add a term here, never in a page, so every
page explains it the same way.

Examples
--------
>>> help_for("support").startswith("How many train rows")
True
>>> glossary_lines(["support"])
'- **support**: How many train rows the rule covers.'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["GLOSSARY", "RULES_TERMS", "GENERATE_TERMS", "help_for", "glossary_lines"]

#: term -> what it means, in a sentence or three a newcomer can read.
GLOSSARY: dict[str, str] = {
    "rule": (
        "Conditions on column values joined by AND; several such groups may be joined by OR. A row is in "
        "the rule when it meets every condition of at least one AND-group. Synthetic rows are written "
        "only for approved rules, and each must satisfy its rule."
    ),
    "DGR": (
        "Distribution-guiding rule, DATE's name for a discovered rule: it marks off one sub-population of "
        "the table on whose rows one small decision tree (its shared model) predicts the target well. "
        "The generator writes rows rule by rule, so each sub-population gets its own rows."
    ),
    "rho": (
        "The most error a rule's shared model may make on the rule's rows. Discovery keeps splitting the "
        "table until each part's model is within it, so a smaller rho gives more, narrower rules. For "
        "classification it is the share of rows predicted wrong (DATE's default 0.05); for regression the "
        "mean squared error divided by the target's variance (default 0.1)."
    ),
    "rho (generation)": (
        "The DATE generator's threshold: generated rows are grouped by the tree path they "
        "reach, and a group is kept only when the rule's model makes at most this much error "
        "on it. It is separate from the rho used to discover rules."
    ),
    "support": "How many train rows the rule covers.",
    "error": (
        "How wrong the rule's shared model is on the rule's own train rows: the share of rows it "
        "predicts wrong (classification), or the mean squared error divided by the target's variance "
        "(regression). 0 means it predicts every row of the rule; a rule is accepted when this is at "
        "most rho."
    ),
    "ind(r)": (
        "DATE's measure of how representative a rule is: the share of its rows that the best of the "
        "shared models predicts within tolerance (correctly, for classification; with a squared error at "
        "most rho, for regression). Rules are listed from the highest."
    ),
    "shared model": (
        "A small decision tree (at most 3 levels) that DATE fits to predict the target, and uses "
        "to measure a rule's error. A tree fitted for a larger part of the table is reused (shared) "
        "by the smaller parts inside it that it already predicts well, and parts that share a tree "
        "are fused into one rule."
    ),
    "tree paths": (
        "The root-to-leaf paths of the rule's shared model that the rule's rows reach, with the "
        "number of rows on each. The tree splits the rule's rows further to predict the target, so "
        "its paths can name columns the rule does not; they are not conditions of the rule. The DATE "
        "generator groups new rows by these paths to check them."
    ),
    "coverage": "The share of train rows that are in at least one rule.",
    "remainder": (
        "Train rows in no rule: they fall in parts of the table smaller than the fewest rows a rule may have."
    ),
    "status": (
        "proposed: waiting for your decision. approved: synthetic rows will be written for it. "
        "rejected: left out. 'Approve all proposed' and 'Reject all proposed' change only rules still "
        "proposed, never a decision you made."
    ),
    "origin": (
        "Where a rule came from: discovered (rule discovery), person (typed or edited by you), llm "
        "(proposed by the LLM), refined (rewritten by the DATE generator from its tree paths)."
    ),
    "fused": (
        "Parts of the table whose rows share one model are fused into one rule, joined by OR. When more "
        "rules remain than 'Most rules' allows, the smallest is merged into the rule whose model fits it "
        "best; that rule's note names what it took in."
    ),
    "Most rules": (
        "The cap on how many rules discovery returns (max_rules). Above it, the smallest rule is "
        "merged into the rule whose model fits it best, so rules can grow long."
    ),
    "MDS": (
        "DATE's selection step (multi-armed-bandit data selection): each batch of generated rows (one rule, "
        "one iteration) is an option, and a budget of draws goes to the batches whose rows score best on "
        "alpha × (1 − error) + (1 − alpha) × diversity."
    ),
    "alpha": (
        "How MDS weighs quality against diversity: alpha × (1 − error) + (1 − alpha) × diversity. 1 counts "
        "only quality (low error); 0 only diversity (rules unlike the others)."
    ),
    "iterations": (
        "I: rounds of generation per rule. After each round the LLM is shown the tree paths and "
        "scores and proposes a refined rule for the next."
    ),
    "teacher": (
        "The label teacher: a strong model (gradient boosting, or a random forest on small tables, "
        "whichever predicts your rows better out of fold) fitted on your real rows; it labels synthetic "
        "rows, or checks the labels they came with."
    ),
    "your model": (
        "The model you will train on the result. Every check uses it, because rows that help a "
        "decision tree often do nothing for gradient boosting."
    ),
    "cross-fitting": (
        "How the app checks rows without setting any of yours aside: your rows are split into K "
        "folds; for each fold, a generator and a label teacher fitted on the other folds make and "
        "label rows, and your model is scored on the held-out fold with and without them. Every row "
        "is held out once, so every row counts both for learning and for checking."
    ),
    "verdict": (
        "The change of your model's error the kept rows bring, estimated out of fold with a 95% "
        "interval: each fold is judged by choices the other folds made, never by rows that chose them. "
        "It is the change on average over fits; one fit of an unstable model such as a decision tree "
        "lands a few percent of the error either side of it, with the draw of rows."
    ),
    "budget": (
        "The most synthetic rows to keep (n). The generator writes that many candidates (twice as many "
        "with a row selection); the check keeps the share of them that helps your model, possibly none."
    ),
    "label mode": (
        "What the label teacher does to each synthetic row: auto (relabel when the teacher beats your "
        "model out of fold, else filter), relabel, filter (drop rows whose label it firmly "
        "contradicts), score (only add its confidence), none."
    ),
}

#: The terms the Generate page explains.
GENERATE_TERMS = (
    "your model",
    "cross-fitting",
    "budget",
    "teacher",
    "label mode",
    "verdict",
    "MDS",
    "alpha",
    "iterations",
    "rho (generation)",
)

#: The terms the Rules page explains, in the order of its glossary.
RULES_TERMS = (
    "rule",
    "DGR",
    "rho",
    "support",
    "error",
    "ind(r)",
    "shared model",
    "tree paths",
    "coverage",
    "remainder",
    "status",
    "origin",
    "fused",
    "Most rules",
)


def help_for(*terms: str) -> str:
    """The explanation of one term, or of several as ``**term**: ...`` paragraphs (for a ``help=`` tooltip).

    Raises
    ------
    KeyError
        For a term not in :data:`GLOSSARY` (add it there).
    """
    if len(terms) == 1:
        return GLOSSARY[terms[0]]
    return "\n\n".join(f"**{t}**: {GLOSSARY[t]}" for t in terms)


def glossary_lines(terms: Iterable[str]) -> str:
    """Markdown, a bullet ``**term**: explanation`` per term, for a glossary on a page."""
    return "\n".join(f"- **{t}**: {GLOSSARY[t]}" for t in terms)

"""Fidelity (SDMetrics'), diagnostics, detection, privacy, compliance, diversity, t-SNE and the Report."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import synth_core.evaluation as ev
from synth_core.data import infer_schema, make_dataset
from synth_core.errors import DataError, NotFittedError
from synth_core.evaluation import (
    METRICS,
    ColumnPairTrends,
    ColumnShapes,
    DetectionAUC,
    Diagnostics,
    DistanceToClosestRecord,
    ExactCopies,
    Fidelity,
    NearestNeighbourDistanceRatio,
    Report,
    RowCoverage,
    RuleCompliance,
    RuleDiversity,
    select_rows,
)
from synth_core.evaluation.diversity import rule_diversity
from synth_core.evaluation.embedding import clear_embedding_cache, embed_tsne, embedding_cache_info
from synth_core.evaluation.fidelity import Goal
from synth_core.evaluation.sdmetrics_bridge import cap_rows, prepare, sdmetrics_columns, sdmetrics_metadata
from synth_core.rules import overlap, parse_rule

# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def table(mixed_frame) -> pd.DataFrame:
    """The shared 300-row mixed table plus a numeric column that follows x0."""
    rng = np.random.default_rng(1)
    out = mixed_frame.copy()
    out["x1"] = 2 * out["x0"].fillna(0.5) + rng.normal(0, 0.1, len(out))
    return out


@pytest.fixture
def schema(table):
    return infer_schema(table, target="y")


@pytest.fixture
def noise(table) -> pd.DataFrame:
    """Rows of the same shape with nothing of the real distribution."""
    rng = np.random.default_rng(2)
    n = len(table)
    return pd.DataFrame(
        {
            "x0": rng.normal(50, 10, n),
            "color": rng.choice(["pink", "gray"], n),
            "age": rng.integers(500, 900, n),
            "flag": np.ones(n, dtype=bool),
            "y": np.full(n, "maybe"),
            "x1": rng.normal(-40, 1, n),
        }
    )


@pytest.fixture
def all_categorical() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    a = rng.choice(["a", "b", "c"], n)
    return pd.DataFrame(
        {
            "a": a,
            "b": np.where(a == "a", "x", rng.choice(["x", "y"], n)),
            "c": rng.choice(["u", "v", "w", "z"], n),
            "y": rng.choice(["no", "yes"], n),
        }
    )


# --------------------------------------------------------------------------- fidelity


def test_identical_rows_have_fidelity_one(table, schema):
    # Run
    breakdown = Fidelity.compute_breakdown(table, table.copy(), schema=schema)

    # Assert
    assert breakdown["score"] == pytest.approx(1.0)
    assert all(d["score"] == pytest.approx(1.0) for d in breakdown["column_shapes"]["by_column"].values())
    assert breakdown["pair_trends"]["n_scored"] == breakdown["pair_trends"]["n_pairs"] == 15


def test_noise_has_low_fidelity(table, schema, noise):
    shapes = ColumnShapes.compute(table, noise, schema=schema)
    overall = Fidelity.compute(table, noise, schema=schema)

    assert shapes < 0.35
    assert overall < 0.5


def test_fidelity_ignores_provenance_columns(table, schema):
    syn = table.assign(_rule_id="r1", _row_id=[f"s{i}" for i in range(len(table))])

    by_column = ColumnShapes.compute_breakdown(table, syn)["by_column"]

    assert "_rule_id" not in by_column and "_row_id" not in by_column
    assert set(by_column) == set(schema.names)


def _perturbed(table: pd.DataFrame) -> pd.DataFrame:
    """Synthetic-like rows: resampled, numbers jittered, some categories and flags changed, cells blanked."""
    rng = np.random.default_rng(7)
    syn = table.sample(200, replace=True, random_state=3).reset_index(drop=True)
    syn["x0"] = syn["x0"] + rng.normal(0, 0.1, len(syn))
    syn["x1"] = syn["x1"] + rng.normal(0, 0.3, len(syn))
    syn.loc[syn.index[:25], "color"] = "red"
    syn.loc[syn.index[25:40], "flag"] = True
    syn.loc[syn.index[40:50], "age"] = np.nan
    return syn


def test_column_shapes_are_sdmetrics_ks_and_tv_complement(table, schema):
    from sdmetrics.single_column import KSComplement, TVComplement

    # Setup
    syn = _perturbed(table)

    # Run
    by_column = ColumnShapes.compute_breakdown(table, syn, schema=schema)["by_column"]

    # Assert: each column's score is SDMetrics' metric on the same two columns
    for col in ("x0", "x1", "age"):
        assert by_column[col]["metric"] == "KSComplement"
        assert by_column[col]["score"] == pytest.approx(KSComplement.compute(table[col], syn[col]), abs=1e-12)
    for col in ("color", "flag", "y"):
        assert by_column[col]["metric"] == "TVComplement"
        assert by_column[col]["score"] == pytest.approx(TVComplement.compute(table[col], syn[col]), abs=1e-12)
    assert by_column["flag"]["sdtype"] == "boolean" and by_column["age"]["sdtype"] == "numerical"
    assert by_column["color"]["score"] < 1.0 and by_column["flag"]["score"] < 1.0


def test_categories_compare_by_text_before_sdmetrics():
    # 1, 1.0 and "1" are one category, True and "true" another, whatever the synthetic rows' types
    real = pd.DataFrame({"c": ["1", "2", "true"] * 10, "x": np.arange(30.0)})
    syn = pd.DataFrame({"c": [1, 2.0, True] * 10, "x": np.arange(30.0)})
    schema = infer_schema(real, kinds={"c": "categorical"})

    assert ColumnShapes.compute_breakdown(real, syn, schema=schema)["by_column"]["c"]["score"] == 1.0
    assert prepare(syn, {"c": "categorical"})["c"].tolist()[:3] == ["1", "2", "true"]


def test_missing_cells_follow_sdmetrics():
    from sdmetrics.single_column import KSComplement

    real = pd.DataFrame({"x": [1.0, 2.0, np.nan, np.nan] * 5, "c": list("abab") * 5})
    syn = pd.DataFrame({"x": [1.0, 2.0, 1.0, 2.0] * 5, "c": list("abab") * 5})
    schema = infer_schema(real)

    out = ColumnShapes.compute_breakdown(real, syn, schema=schema)["by_column"]["x"]

    # SDMetrics' KSComplement drops missing cells: the shapes agree; the missing shares are shown beside
    assert out["score"] == KSComplement.compute(real["x"], syn["x"]) == 1.0
    assert out["missing_real"] == 0.5 and out["missing_synthetic"] == 0.0


def test_an_all_missing_synthetic_column_has_a_note_and_is_left_out(table, schema):
    syn = _perturbed(table).assign(x1=np.nan)

    out = ColumnShapes.compute_breakdown(table, syn, schema=schema)

    assert math.isnan(out["by_column"]["x1"]["score"]) and "error" not in out["by_column"]["x1"]
    assert out["by_column"]["x1"]["note"].startswith("no score: a side has no value")
    others = [d["score"] for c, d in out["by_column"].items() if c != "x1"]
    assert out["score"] == pytest.approx(np.mean(others), abs=1e-12)  # as SDMetrics' mean skips NaN


def test_pair_trends_correlation_similarity(table, schema):
    from sdmetrics.column_pairs import CorrelationSimilarity

    flipped = table.assign(x1=-table["x1"])

    pairs = ColumnPairTrends.compute_breakdown(table, flipped, schema=schema)["by_pair"]
    entry = next(p for p in pairs if set(p["columns"]) == {"x0", "x1"})

    assert entry["metric"] == "CorrelationSimilarity" and entry["meets_threshold"] is True
    assert entry["real"] == pytest.approx(-entry["synthetic"])
    assert entry["score"] == pytest.approx(1 - abs(2 * entry["real"]) / 2)
    expected = CorrelationSimilarity.compute(table[["x0", "x1"]], flipped[["x0", "x1"]])
    assert entry["score"] == pytest.approx(expected, abs=1e-12)


def test_pairs_without_a_real_trend_do_not_count(table, schema):
    syn = _perturbed(table)

    out = ColumnPairTrends.compute_breakdown(table, syn, schema=schema)

    weak = [p for p in out["by_pair"] if not p["meets_threshold"]]
    counted = [p for p in out["by_pair"] if "score" in p]
    assert weak and all("score" not in p and "SDMetrics' threshold" in p["note"] for p in weak)
    assert out["n_contributing"] == len(counted) == out["n_scored"] - len(weak)
    assert out["score"] == pytest.approx(np.mean([p["score"] for p in counted]), abs=1e-12)
    assert out["parameters"]["real_correlation_threshold"] == 0.5
    assert out["parameters"]["real_association_threshold"] == 0.3


def test_pair_trends_caps_wide_tables_and_keeps_target_pairs():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"c{i}": rng.normal(size=80) for i in range(30)})
    wide["target"] = rng.choice(["a", "b"], 80)
    schema = infer_schema(wide, target="target")

    out = ColumnPairTrends.compute_breakdown(
        wide, wide.sample(frac=1.0, random_state=1), schema=schema, max_pairs=40
    )

    assert out["n_pairs"] == 31 * 30 // 2
    assert out["n_scored"] == len(out["by_pair"]) == 40
    assert sum("target" in p["columns"] for p in out["by_pair"]) == 30


def test_constant_synthetic_column_is_a_pair_error_not_a_crash(table, schema):
    syn = table.assign(x1=1.0)

    out = ColumnPairTrends.compute_breakdown(table, syn, schema=schema)
    bad = next(p for p in out["by_pair"] if set(p["columns"]) == {"x0", "x1"})

    # SDMetrics' own error, kept per pair as its report keeps it
    assert bad["error"].startswith(
        "ConstantInputError: The synthetic data in column 'x1' contains a constant value"
    )
    assert "score" not in bad
    assert 0 < out["score"] <= 1


def test_rows_are_capped_with_a_fixed_seed_and_recorded(table, schema):
    from sdmetrics.reports import QualityReport

    # Setup
    syn = _perturbed(table)

    # Run
    first = Fidelity.compute_breakdown(table, syn, schema=schema, max_rows_per_side=120, random_state=4)
    second = Fidelity.compute_breakdown(table, syn, schema=schema, max_rows_per_side=120, random_state=4)

    # Assert: the sample is recorded, repeatable, and SDMetrics' QualityReport on those rows agrees
    assert first["sampling"] == {
        "max_rows_per_side": 120,
        "random_state": 4,
        "n_real": 120,
        "n_synthetic": 120,
        "real_rows_given": 300,
        "synthetic_rows_given": 200,
        "sampled": True,
    }
    assert first["score"] == second["score"]
    _, sdtypes = sdmetrics_columns(table, syn, schema)
    rng = np.random.default_rng(4)
    r, s = cap_rows(table, 120, rng), cap_rows(syn, 120, rng)
    report = QualityReport()
    report.generate(
        {"table": prepare(r, sdtypes)},
        {"table": prepare(s, sdtypes)},
        sdmetrics_metadata(sdtypes, unified=True),
        verbose=False,
    )
    assert first["score"] == pytest.approx(report.get_score(), abs=1e-12)


# --------------------------------------------------------------------------- diagnostics


def test_diagnostics_are_sdmetrics_diagnostic_report(table, schema):
    from sdmetrics.reports import DiagnosticReport

    # Setup: one age far outside the real range, one unseen colour
    syn = _perturbed(table)
    syn.loc[0, "age"] = 500
    syn.loc[1, "color"] = "purple"
    _, sdtypes = sdmetrics_columns(table, syn, schema)

    # Run
    out = Diagnostics.compute_breakdown(table, syn, schema=schema)
    report = DiagnosticReport()
    report.generate(
        {"table": prepare(table, sdtypes)},
        {"table": prepare(syn, sdtypes)},
        sdmetrics_metadata(sdtypes, unified=True),
        verbose=False,
    )

    # Assert
    assert out["score"] == pytest.approx(report.get_score(), abs=1e-12)
    validity = {(v["column"], v["metric"]): v["score"] for v in out["validity"]}
    # 1 age out of range, and 10 missing where the real column never is (SDMetrics counts those as outside)
    assert validity[("age", "BoundaryAdherence")] == pytest.approx(189 / 200)
    assert validity[("color", "CategoryAdherence")] == pytest.approx(199 / 200)
    assert out["properties"]["Data Structure"] == 1.0
    assert set(out["properties"]) == {"Data Validity", "Data Structure"}


def test_diagnostics_see_a_missing_column(table, schema):
    out = Diagnostics.compute_breakdown(table, table.drop(columns="color"), schema=schema)

    assert out["missing_columns"] == ["color"]
    assert out["properties"]["Data Structure"] == pytest.approx(5 / 6)
    assert any(v["column"] == "color" and "error" in v for v in out["validity"])


# --------------------------------------------------------------------------- detection


def test_detection_auc_near_half_for_identical_rows(table, schema):
    out = DetectionAUC.compute_breakdown(table, table.copy(), schema=schema, random_state=0)

    assert out["score"] == pytest.approx(0.5, abs=0.05)
    assert out["parameters"]["model"] == "HistGradientBoostingClassifier"
    assert out["parameters"]["random_state"] == 0


def test_detection_auc_near_one_for_noise(table, schema, noise):
    assert DetectionAUC.compute(table, noise, schema=schema) > 0.95


def test_detection_takes_model_and_balances(table, schema):
    from sklearn.linear_model import LogisticRegression

    out = DetectionAUC.compute_breakdown(
        table, table.head(40), schema=schema, model=LogisticRegression(max_iter=200), random_state=3
    )

    assert out["parameters"]["model"] == "LogisticRegression"
    assert out["parameters"]["rows_per_side"] == 40
    assert len(out["folds"]) == out["parameters"]["n_folds"]


def test_detection_refuses_a_single_synthetic_row(table, schema):
    with pytest.raises(DataError, match="at least 2 real and 2 synthetic rows"):
        DetectionAUC.compute(table, table.head(1), schema=schema)


# --------------------------------------------------------------------------- privacy


def test_copies_are_flagged(table, schema):
    train, holdout = table.iloc[:200], table.iloc[200:]
    copies = train.sample(80, random_state=0)

    exact = ExactCopies.compute_breakdown(train, copies, schema=schema)
    dcr = DistanceToClosestRecord.compute_breakdown(train, copies, schema=schema, holdout=holdout)
    nndr = NearestNeighbourDistanceRatio.compute(train, copies, schema=schema, holdout=holdout)

    assert exact["count"] == 80 and exact["score"] == 1.0
    assert dcr["score"] == 1.0
    assert dcr["dcr_synthetic"]["median"] == 0.0
    assert nndr == 0.0


def test_identical_tables_are_all_copies(table, schema):
    out = ExactCopies.compute_breakdown(table, table.copy(), schema=schema)
    assert out["count"] == len(table)
    assert out["score"] == 1.0


def test_exact_copies_see_one_changed_cell(table, schema):
    syn = table.head(10).copy()
    syn.loc[syn.index[0], "age"] = 999

    out = ExactCopies.compute_breakdown(table, syn, schema=schema)

    assert out["count"] == 9
    assert syn.index[0] not in out["examples"]


def test_far_rows_are_private(table, schema, noise):
    dcr = DistanceToClosestRecord.compute_breakdown(table, noise, schema=schema)

    assert dcr["score"] == 0.0
    assert dcr["parameters"]["holdout_from_split"] is True
    assert ExactCopies.compute(table, noise, schema=schema) == 0.0


# --------------------------------------------------------------------------- compliance


@pytest.fixture
def rules():
    return [
        parse_rule("age >= 50", id="old", support=100, error=0.1, status="approved"),
        parse_rule("age < 50 AND color in {'red', 'green'}", id="young", error=0.2, status="approved"),
    ]


def _rows_for(table, rules):
    old = table[table["age"] >= 50].head(30).assign(_rule_id="old")
    young = table[(table["age"] < 50) & table["color"].isin(["red", "green"])].head(20)
    young = young.assign(_rule_id="young")
    return pd.concat([old, young], ignore_index=True)


def test_planted_rule_breaking_row_is_counted(table, schema, rules):
    syn = _rows_for(table, rules)
    syn.loc[3, "age"] = 20  # an "old" row that is not old

    out = RuleCompliance.compute_breakdown(table, syn, schema=schema, rules=rules)

    assert out["n_violations"] == 1
    assert out["by_rule"]["old"]["violations"] == [3]
    assert out["by_rule"]["old"]["share"] == pytest.approx(29 / 30)
    assert out["by_rule"]["young"]["share"] == 1.0
    assert out["score"] == pytest.approx(49 / 50)
    assert out["assignment"] == "rule_column"


def test_compliance_reports_support_and_unassigned_rows(table, schema, rules):
    syn = _rows_for(table, rules)
    syn.loc[0, "_rule_id"] = "nobody"

    out = RuleCompliance.compute_breakdown(table, syn, schema=schema, rules=rules)

    assert out["n_unassigned"] == 1
    assert out["by_rule"]["old"]["real_support"] == 100  # Rule.support wins
    young_support = int(rules[1].count(table))
    assert out["by_rule"]["young"]["real_support"] == young_support
    assert out["by_rule"]["young"]["rows_per_support"] == pytest.approx(20 / young_support)


def test_compliance_without_rule_column_checks_every_row(table, schema, rules):
    syn = table.head(60)

    out = RuleCompliance.compute_breakdown(table, syn, schema=schema, rules=rules)

    assert out["assignment"] == "all_rows"
    assert out["by_rule"]["old"]["n_assigned"] == 60
    assert out["by_rule"]["old"]["n_satisfied"] == int((syn["age"] >= 50).sum())


def test_compliance_rule_on_missing_column_is_an_entry_error(table, schema):
    bad = [parse_rule("income > 3", id="r"), parse_rule("age > 20", id="s")]

    out = RuleCompliance.compute_breakdown(table, table.head(10), schema=schema, rules=bad)

    assert out["by_rule"]["r"]["error"].startswith("DataError: the synthetic rows lack column 'income'")
    assert out["by_rule"]["s"]["n_assigned"] == 10


# --------------------------------------------------------------------------- diversity


def test_rule_diversity_follows_definition_5(table, schema):
    a = parse_rule("age < 40", id="a", support=30)
    b = parse_rule("age >= 40", id="b", support=10)
    c = parse_rule("age < 60", id="c", support=60)
    syn = pd.concat([table.head(10).assign(_rule_id="a"), table.head(30).assign(_rule_id="c")])

    out = RuleDiversity.compute_breakdown(table, syn, schema=schema, rules=[a, b, c])

    # b has no rows: the selected set is {a, c}; each is compared with the other
    assert set(out["by_rule"]) == {"a", "c"}
    expected = overlap(a, c, schema)
    assert out["by_rule"]["a"]["div"] == pytest.approx(expected)
    assert out["score"] == pytest.approx(expected)
    assert out["distinctness"] == pytest.approx(1 - expected)
    # against a reference set, weights are the reference supports
    ref = RuleDiversity.compute_breakdown(table, syn, schema=schema, rules=[a, c], reference_rules=[a, b])
    assert ref["by_rule"]["a"]["div"] == pytest.approx(0.75 * 1.0 + 0.25 * overlap(a, b, schema))


def test_rule_diversity_helper_weights():
    schema = infer_schema(pd.DataFrame({"x": [0.0, 2.5, 10.0]}))
    a, b = parse_rule("x < 5"), parse_rule("x >= 5")
    assert rule_diversity(a, [a, b], [3, 1], schema) == pytest.approx(0.75)
    assert rule_diversity(a, [b], [1], schema) == 0.0


def test_rule_diversity_needs_two_rules(table, schema, rules):
    with pytest.raises(DataError, match="at least two rules"):
        RuleDiversity.compute(table, table.head(5).assign(_rule_id="old"), schema=schema, rules=rules)


def test_row_coverage(table, schema):
    full = RowCoverage.compute_breakdown(table, table.copy(), schema=schema, n_cells=10)
    corner = RowCoverage.compute_breakdown(table, table.iloc[[0]], schema=schema, n_cells=10)

    assert full["score"] == 1.0 and full["mass_covered"] == pytest.approx(1.0)
    assert corner["score"] == pytest.approx(0.1)
    assert corner["mass_covered"] < 0.5


# --------------------------------------------------------------------------- selection


def test_select_rows_by_rule_status_and_ids():
    syn = pd.DataFrame(
        {
            "x": range(6),
            "_rule_id": ["a", "b", "a", "b", "a", 3],
            "_status": ["accepted", "accepted", "rejected", "accepted", "accepted", "accepted"],
            "_row_id": [f"s{i}" for i in range(6)],
        },
        index=[10, 11, 12, 13, 14, 15],
    )

    assert select_rows(syn, rule_ids=["a"])["x"].tolist() == [0, 2, 4]
    assert select_rows(syn, rule_ids=["a"], status="accepted")["x"].tolist() == [0, 4]
    assert select_rows(syn, rule_ids=["3"])["x"].tolist() == [5]
    assert select_rows(syn, row_ids=["s1", "s5"])["x"].tolist() == [1, 5]
    assert select_rows(syn.drop(columns="_row_id"), row_ids=[11, 12])["x"].tolist() == [1, 2]
    assert len(select_rows(syn)) == 6


def test_select_rows_names_the_missing_column():
    with pytest.raises(DataError, match="no '_rule_id' column"):
        select_rows(pd.DataFrame({"x": [1]}), rule_ids=["a"])


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_handles_missing_values(name, table, schema, rules):
    syn = _rows_for(table, rules)
    syn.loc[syn.index[:5], "x1"] = np.nan
    syn.loc[syn.index[5:9], "color"] = None
    extra = {"rules": rules} if "rules" in METRICS[name].options else {}

    score = METRICS[name].compute(table, syn, schema=schema, **extra)

    assert METRICS[name].min_value <= score <= METRICS[name].max_value  # NaN fails both sides


def test_metric_classes_describe_themselves():
    for name, metric in METRICS.items():
        assert metric.name == name
        assert isinstance(metric.goal, Goal)
        assert metric.min_value < metric.max_value
    assert DetectionAUC.normalize(1.0) == 0.0 and ColumnShapes.normalize(0.25) == 0.25
    assert {"fidelity", "column_shapes", "pair_trends", "diagnostics"} <= set(METRICS)


def test_package_exports_exactly_what_it_lists():
    import __future__

    import types

    public = {
        n
        for n in dir(ev)
        if not n.startswith("_")
        and not isinstance(getattr(ev, n), types.ModuleType)
        and getattr(ev, n) is not __future__.annotations
    }
    assert sorted(ev.__all__) == sorted(public)


# --------------------------------------------------------------------------- report


def _json_ok(report: Report) -> dict:
    doc = report.to_dict()
    json.dumps(doc, allow_nan=False)
    return doc


def test_report_on_identical_rows(table, schema):
    report = Report(include_utility=False).generate(table, table.copy(), schema=schema)

    assert report.get_score("fidelity") == pytest.approx(1.0)
    assert report.get_score("detection_auc") == pytest.approx(0.5, abs=0.05)
    assert report.get_score("exact_copies") == 1.0
    assert report.results_["rule_compliance"]["skipped"] == "no rules given"
    assert "utility" not in report.results_
    _json_ok(report)


def test_report_with_rules_selection_and_usage(table, schema, rules):
    syn = _rows_for(table, rules)
    syn["_status"] = "accepted"
    syn.loc[0, "_status"] = "rejected"

    report = Report(include_utility=False).generate(
        table,
        syn,
        schema=schema,
        rules=rules,
        status="accepted",
        llm_usage={"prompt_tokens": 900, "completion_tokens": 100, "accepted_rows": 49},
    )

    assert report.info_["n_selected"] == 49
    assert report.results_["rule_compliance"]["breakdown"]["n_assigned"] == 49
    assert report.llm_usage_["tokens_per_accepted_row"] == pytest.approx(1000 / 49)
    md = report.to_markdown()
    assert "| rule_compliance |" in md and "## Rules" in md and "tokens_per_accepted_row" in md
    assert report.summary()["metric"].tolist()[0] == "fidelity"


def test_failing_metric_is_stored_not_raised(table, schema):
    from sklearn.svm import LinearSVC  # no predict_proba

    report = Report(
        include_utility=False, detection_model=LinearSVC(), metrics=["column_shapes", "detection_auc"]
    ).generate(table, table.head(50), schema=schema)

    error = report.results_["detection_auc"]["error"]
    assert error.startswith("AttributeError: ")
    assert report.get_score("detection_auc") is None
    assert report.get_score("column_shapes") > 0.5
    assert _json_ok(report)["metrics"]["detection_auc"]["error"] == error
    assert "AttributeError" in report.to_markdown()


def test_report_with_a_single_synthetic_row(table, schema, rules):
    syn = table[table["age"] >= 50].head(1).assign(_rule_id="old")

    report = Report(include_utility=False).generate(table, syn, schema=schema, rules=rules)

    assert report.results_["detection_auc"]["error"].startswith("DataError: ")
    assert report.results_["rule_diversity"]["error"].startswith("DataError: ")
    # the one row is a real row inside its rule: a copy at distance 0, one of the 50 coverage cells
    exact = {"exact_copies": 1.0, "dcr": 1.0, "nndr": 0.0, "rule_compliance": 1.0, "row_coverage": 1 / 50}
    for name in (
        "column_shapes",
        "exact_copies",
        "dcr",
        "nndr",
        "rule_compliance",
        "row_coverage",
        "fidelity",
    ):
        assert report.results_[name]["error"] is None, name
        if name in exact:
            assert report.get_score(name) == pytest.approx(exact[name]), name
        else:
            assert 0.0 <= report.get_score(name) <= 1.0, name
    _json_ok(report)


def test_report_on_an_all_categorical_table(all_categorical):
    schema = infer_schema(all_categorical, target="y")
    syn = all_categorical.sample(60, random_state=1)

    report = Report(include_utility=False).generate(all_categorical, syn, schema=schema)

    errors = {k: e["error"] for k, e in report.results_.items() if e["error"]}
    assert errors == {}
    assert all(
        p["metric"] == "ContingencySimilarity" for p in report.results_["pair_trends"]["breakdown"]["by_pair"]
    )
    _json_ok(report)


def test_report_with_missing_values(table, schema):
    syn = table.sample(100, random_state=0).astype({"age": float, "flag": object})
    syn.loc[syn.index[:20], "age"] = np.nan
    syn.loc[syn.index[20:40], "flag"] = None

    report = Report(include_utility=False).generate(table, syn, schema=schema)

    assert {k: e["error"] for k, e in report.results_.items() if e["error"]} == {}


def test_report_utility_needs_a_dataset_and_uses_it(table):
    ds = make_dataset(table, target="y", seed=0, protocol="paper")
    syn = ds.train.sample(40, random_state=0)

    with_ds = Report(metrics=["column_shapes"], utility_seeds=(0,)).generate(synthetic=syn, dataset=ds)
    without = Report(metrics=["column_shapes"], utility_seeds=(0,)).generate(ds.train, syn)

    utility = with_ds.results_["utility"]["breakdown"]
    assert utility["metric"] == "error_rate"
    base, augmented = utility["baseline"]["mean"], utility["augmented"]["mean"]
    assert 0.0 < base <= 1.0 and 0.0 <= augmented <= 1.0
    assert with_ds.get_score("utility") == pytest.approx((augmented - base) / base)
    assert (utility["parameters"]["n_real"], utility["parameters"]["n_synthetic"]) == (len(ds.train), 40)
    assert with_ds.info_["n_real"] == len(ds.train)
    error = without.results_["utility"]["error"]
    assert error.startswith("DataError: augmentation utility needs the Dataset")


def test_report_must_be_generated_first():
    with pytest.raises(NotFittedError, match="Call 'generate' first"):
        Report().get_score("fidelity")


def test_report_rejects_unknown_metrics(table):
    with pytest.raises(DataError, match="unknown metric"):
        Report(metrics=["nope"]).generate(table, table)


# --------------------------------------------------------------------------- embedding


def test_embedding_is_capped_cached_and_deterministic(table, schema):
    clear_embedding_cache()
    syn = table.sample(100, random_state=0)

    first = embed_tsne(table, syn, schema=schema, max_points=120, max_iter=250)
    second = embed_tsne(table, syn, schema=schema, max_points=120, max_iter=250)

    assert first.n_shown == 120
    assert (first.coords["source"] == "synthetic").sum() == 60  # half the cap kept for synthetic rows
    assert "cap 120" in first.subtitle and "400 rows" in first.subtitle
    assert not first.cached and second.cached
    assert embedding_cache_info()["hits"] == 1
    np.testing.assert_allclose(first.coords[["x", "y"]], second.coords[["x", "y"]])
    clear_embedding_cache()
    third = embed_tsne(table, syn, schema=schema, max_points=120, max_iter=250)
    np.testing.assert_allclose(first.coords[["x", "y"]], third.coords[["x", "y"]])


def test_embedding_maps_points_back_to_rows(table, schema):
    syn = table.head(5).set_axis([f"s{i}" for i in range(5)])

    emb = embed_tsne(table.head(40), syn, schema=schema, max_iter=250)

    syn_points = emb.coords[emb.coords["source"] == "synthetic"]
    assert syn_points["row"].tolist() == [f"s{i}" for i in range(5)]
    assert syn_points["position"].tolist() == list(range(5))


def test_embedding_needs_three_rows(table, schema):
    with pytest.raises(DataError, match="at least 3 rows"):
        embed_tsne(table.head(1), table.head(1), schema=schema)

"""The product's fidelity figures are SDMetrics' own: one pair of tables, the Report and QualityReport agree.

The real table is the bundled Adult sample (numbers, categories, missing cells)
plus a boolean column; the synthetic one is a perturbed resample of it with
missing cells of every kind. SDMetrics is given the raw frames and metadata
written out here by hand, the product its :class:`Report` with the inferred
schema; column shapes, pair trends, the overall score and every column's and
pair's score must match to 1e-9.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from synth_core.data import infer_schema
from synth_core.evaluation import Report
from synth_core.evaluation.sdmetrics_bridge import sdmetrics_columns
from synth_core.samples import sample_path

NUMERICAL = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
    "income",
]
BOOLEAN = ["long_hours"]
ORDER = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
    "long_hours",
]
#: The metadata an analyst would write for these columns, in the table's order (SDMetrics pairs them in it).
COLUMNS = {
    c: {"sdtype": "numerical" if c in NUMERICAL else "boolean" if c in BOOLEAN else "categorical"}
    for c in ORDER
}
TOL = 1e-9


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    real = pd.read_csv(sample_path("adult_3k.csv"))
    real["long_hours"] = real["hours_per_week"] > 40
    rng = np.random.default_rng(11)
    real.loc[rng.choice(len(real), 60, replace=False), "hours_per_week"] = np.nan

    syn = real.sample(2500, replace=True, random_state=5).reset_index(drop=True)
    n = len(syn)
    syn["age"] = (syn["age"] + rng.integers(-3, 4, n)).clip(lower=17)
    syn["fnlwgt"] = syn["fnlwgt"] * rng.lognormal(0, 0.2, n)
    syn["hours_per_week"] = syn["hours_per_week"] + rng.normal(0, 4, n)
    swap = rng.random(n) < 0.15
    syn.loc[swap, "occupation"] = rng.choice(real["occupation"].dropna().unique(), swap.sum())
    syn.loc[rng.random(n) < 0.1, "income"] = ">50K"
    syn["long_hours"] = syn["long_hours"].astype(object)
    syn.loc[rng.random(n) < 0.2, "long_hours"] = True
    for col in ("education", "capital_gain", "long_hours"):
        syn.loc[rng.choice(n, 40, replace=False), col] = None
    syn["_rule_id"] = "r1"  # provenance: the product leaves it out, SDMetrics is never shown it
    return real, syn


@pytest.fixture(scope="module")
def product(tables) -> Report:
    real, syn = tables
    schema = infer_schema(real, target="income")
    return Report(include_utility=False, metrics=["column_shapes", "pair_trends"]).generate(
        real, syn, schema=schema
    )


def _unified(real, syn):
    from sdmetrics.reports import QualityReport

    report = QualityReport()
    metadata = {"tables": {"adult": {"columns": COLUMNS}}}
    report.generate({"adult": real}, {"adult": syn}, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return (
        report.get_score(),
        props["Column Shapes"],
        props["Column Pair Trends"],
        report.get_details("Column Shapes"),
        report.get_details("Column Pair Trends"),
    )


def _single_table(real, syn):
    with warnings.catch_warnings():  # importing SDMetrics' older single-table module warns it is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, syn, {"columns": COLUMNS}, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return (
        report.get_score(),
        props["Column Shapes"],
        props["Column Pair Trends"],
        report.get_details("Column Shapes"),
        report.get_details("Column Pair Trends"),
    )


def test_the_schema_gives_sdmetrics_the_metadata_an_analyst_writes(tables):
    real, syn = tables

    _, sdtypes = sdmetrics_columns(real, syn, infer_schema(real, target="income"))

    assert sdtypes == {c: meta["sdtype"] for c, meta in COLUMNS.items()}
    assert list(sdtypes) == list(real.columns) == ORDER


@pytest.mark.parametrize("quality_report", [_unified, _single_table], ids=["QualityReport", "single_table"])
def test_report_and_quality_report_agree(tables, product, quality_report):
    # Setup
    real, syn = tables
    overall, shapes, trends, shape_details, pair_details = quality_report(real, syn.drop(columns="_rule_id"))

    # Assert: the three figures
    assert product.get_score("column_shapes") == pytest.approx(shapes, abs=TOL)
    assert product.get_score("pair_trends") == pytest.approx(trends, abs=TOL)
    assert product.get_score("fidelity") == pytest.approx(overall, abs=TOL)
    assert 0.5 < overall < 0.99 and shapes < 1 and trends < 1  # a test that can fail: the tables differ

    # Assert: every column's score and metric
    by_column = product.get_details("column_shapes")["breakdown"]["by_column"]
    assert list(by_column) == shape_details["Column"].tolist()
    for row in shape_details.itertuples(index=False):
        assert by_column[row.Column]["metric"] == row.Metric
        assert by_column[row.Column]["score"] == pytest.approx(row.Score, abs=TOL), row.Column

    # Assert: every pair's score, and which pairs count
    breakdown = product.get_details("pair_trends")["breakdown"]
    by_pair = {tuple(p["columns"]): p for p in breakdown["by_pair"]}
    assert list(by_pair) == list(zip(pair_details["Column 1"], pair_details["Column 2"]))
    assert breakdown["n_scored"] == breakdown["n_pairs"] == len(pair_details) == 16 * 15 // 2
    for row in pair_details.to_dict(orient="records"):
        entry = by_pair[(row["Column 1"], row["Column 2"])]
        assert entry["metric"] == row["Metric"]
        assert entry["meets_threshold"] == bool(row["Meets Threshold?"])
        if math.isnan(row["Score"]):
            assert "score" not in entry
        else:
            assert entry["score"] == pytest.approx(row["Score"], abs=TOL), entry["columns"]
    assert breakdown["n_contributing"] == int(pair_details["Score"].notna().sum()) > 5


def test_report_records_where_the_figures_come_from(product):
    from importlib.metadata import version

    fidelity = product.get_details("fidelity")["breakdown"]

    assert fidelity["source"] == f"sdmetrics {version('sdmetrics')}: QualityReport properties"
    assert fidelity["sampling"]["sampled"] is False
    assert fidelity["sampling"]["n_real"] == 3000 and fidelity["sampling"]["n_synthetic"] == 2500
    md = product.to_markdown()
    assert f"SDMetrics' own (sdmetrics {version('sdmetrics')})" in md
    assert "Pair trends compared 120 of 120 column pairs" in md

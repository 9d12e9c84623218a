"""Figures from synth_core.viz: content, palette, no global plotly state, and a real PNG render."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from synth_core import viz
from synth_core.data import infer_schema
from synth_core.errors import DataError, InvalidParameterError
from synth_core.evaluation import ColumnPairTrends, ColumnShapes, select_rows
from synth_core.rules import parse_rule

CHROMIUM = os.environ.get("SYNTH_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def real(mixed_frame) -> pd.DataFrame:
    return mixed_frame


@pytest.fixture
def schema(real):
    return infer_schema(real, target="y")


@pytest.fixture
def synthetic(real) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    syn = real.sample(60, random_state=1).reset_index(drop=True)
    syn["x0"] = syn["x0"] + rng.normal(0, 0.05, len(syn))
    syn["_rule_id"] = np.where(syn["age"] >= 50, "old", "young")
    syn["_row_id"] = [f"s{i}" for i in range(len(syn))]
    return syn


@pytest.fixture
def rules():
    return [
        parse_rule("age >= 50", id="old", support=110, error=0.12, status="approved"),
        parse_rule("age < 50", id="young", error=0.3, status="proposed"),
    ]


@pytest.fixture
def arms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["old:0", "young:0", "old:1"],
            "utility": [0.82, 0.74, 0.79],
            "diversity": [0.31, 0.55, 0.40],
            "accepted": [True, False, True],
        }
    )


def _all_figures(real, synthetic, schema, rules, arms) -> dict[str, go.Figure]:
    return {
        "tsne": viz.tsne_figure(real, synthetic, schema=schema, color_by="rule", max_iter=250),
        "histogram": viz.column_figure(real, synthetic, "x0", schema=schema),
        "ecdf": viz.column_figure(real, synthetic, "age", schema=schema, kind="ecdf"),
        "bars": viz.column_figure(real, synthetic, "color", schema=schema),
        "shapes": viz.column_shapes_figure(ColumnShapes.compute_breakdown(real, synthetic, schema=schema)),
        "pairs": viz.pair_trends_figure(ColumnPairTrends.compute_breakdown(real, synthetic, schema=schema)),
        "rules": viz.rule_coverage_figure(rules, real=real, synthetic=synthetic),
        "arms": viz.mds_arm_figure(arms),
    }


# --------------------------------------------------------------------------- content


def test_tsne_figure_colours_by_source_with_hover_and_subtitle(real, synthetic, schema):
    fig = viz.tsne_figure(real, synthetic, schema=schema, max_iter=250)

    assert [t.name for t in fig.data] == ["real", "synthetic"]
    assert [t.marker.color for t in fig.data] == [viz.SOURCE_COLORS["real"], viz.SOURCE_COLORS["synthetic"]]
    assert len(fig.data[0].x) == len(real) and len(fig.data[1].x) == len(synthetic)
    assert "cap 5,000" in fig.layout.title.text and "360 rows" in fig.layout.title.text
    assert "x0: %{customdata[" in fig.data[0].hovertemplate
    # synthetic points carry their _row_id, so a lasso maps back to rows
    assert set(fig.data[1].customdata[:, 0]) == set(synthetic["_row_id"])
    assert fig.layout.xaxis.title.text == "t-SNE 1"


def test_tsne_lasso_selection_round_trip(real, synthetic, schema):
    fig = viz.tsne_figure(real, synthetic, schema=schema, max_iter=250)
    points = [{"customdata": list(row)} for row in fig.data[1].customdata[:7]] + [
        {"customdata": list(fig.data[0].customdata[0])}
    ]

    ids = viz.selected_rows(points)
    chosen = select_rows(synthetic, row_ids=ids)

    assert len(ids) == 7
    assert chosen["_row_id"].tolist() == sorted(ids, key=lambda s: int(s[1:]))


def test_tsne_colour_by_rule_and_class(real, synthetic, schema):
    by_rule = viz.tsne_figure(real, synthetic, schema=schema, color_by="rule", max_iter=250)
    by_class = viz.tsne_figure(real, synthetic, schema=schema, color_by="class", max_iter=250)

    assert [t.name for t in by_rule.data] == ["real", "old", "young"]
    assert {t.name for t in by_class.data} == {"yes", "no"}
    assert all(c in viz.PALETTE for c in (t.marker.color for t in by_class.data))


def test_tsne_rejects_unknown_colouring(real, synthetic, schema):
    with pytest.raises(InvalidParameterError, match="color_by must be one of"):
        viz.tsne_figure(real, synthetic, schema=schema, color_by="colour")


def test_column_figures_label_axes_with_the_column(real, synthetic, schema):
    hist = viz.column_figure(real, synthetic, "x0", schema=schema)
    bars = viz.column_figure(real, synthetic, "color", schema=schema)
    ecdf = viz.column_figure(real, synthetic, "x0", schema=schema, kind="ecdf")

    assert hist.layout.xaxis.title.text == "x0" and hist.layout.barmode == "overlay"
    assert pytest.approx(sum(hist.data[0].y)) == 1.0
    assert bars.layout.xaxis.title.text == "color"
    assert set(bars.data[0].x) == {"red", "green", "blue"}
    assert ecdf.data[0].y[-1] == pytest.approx(1.0)
    with pytest.raises(InvalidParameterError, match="not numeric"):
        viz.column_figure(real, synthetic, "color", schema=schema, kind="ecdf")
    with pytest.raises(DataError, match="'nope'"):
        viz.column_figure(real, synthetic, "nope", schema=schema)


def test_pair_trends_heatmap_is_symmetric(real, synthetic, schema):
    fig = viz.pair_trends_figure(ColumnPairTrends.compute_breakdown(real, synthetic, schema=schema))

    z = np.array(fig.data[0].z, dtype=float)
    assert list(fig.data[0].x) == [c for c in schema.names]
    np.testing.assert_allclose(z, z.T, equal_nan=True)
    assert np.isnan(np.diag(z)).all()


def test_rule_and_arm_figures(real, synthetic, rules, arms):
    cov = viz.rule_coverage_figure(rules, real=real, synthetic=synthetic)
    arm = viz.mds_arm_figure(arms)

    support, syn_rows, errors = cov.data
    assert list(support.y) == ["old", "young"] and support.x[0] == 110
    assert list(syn_rows.x) == [int((synthetic["_rule_id"] == r).sum()) for r in ("old", "young")]
    assert list(errors.marker.color) == [viz.STATUS_COLORS["approved"], viz.STATUS_COLORS["proposed"]]
    assert [t.name for t in arm.data] == ["accepted", "rejected"]
    assert arm.layout.xaxis.title.text == "diversity" and arm.layout.yaxis.title.text == "utility"
    with pytest.raises(DataError, match="'accepted'"):
        viz.mds_arm_figure(arms.drop(columns="accepted"))


def test_figures_leave_plotly_globals_alone(real, synthetic, schema, rules, arms):
    template, renderer = pio.templates.default, pio.renderers.default

    figures = _all_figures(real, synthetic, schema, rules, arms)

    assert pio.templates.default == template and pio.renderers.default == renderer
    for name, fig in figures.items():
        assert isinstance(fig, go.Figure), name
        assert fig.layout.template.layout.paper_bgcolor is not None, name  # each carries its own template
        assert fig.layout.title.text, name


# --------------------------------------------------------------------------- PNG


def _render_with_kaleido(fig: go.Figure, path: Path) -> bool:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    try:
        path.write_bytes(fig.to_image(format="png", width=900, height=600))
    except Exception:  # noqa: BLE001 - kaleido present but no usable Chrome: fall back to Playwright
        return False
    return True


def _render_with_playwright(figures: dict[str, go.Figure], out: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(
            f"no Chromium at {CHROMIUM} (install Debian 'chromium' or set SYNTH_CHROMIUM) "
            "and kaleido could not render; PNG export not checked"
        )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 600})
            for name, fig in figures.items():
                html = out / f"{name}.html"
                fig.write_html(
                    html,
                    include_plotlyjs="directory",
                    full_html=True,
                    default_width="880px",
                    default_height="560px",
                )
                page.goto(html.as_uri())
                page.wait_for_selector(".plotly-graph-div .main-svg", timeout=20000)
                page.locator(".plotly-graph-div").first.screenshot(path=str(out / f"{name}.png"))
        finally:
            browser.close()


@pytest.mark.browser
def test_figures_render_to_png(real, synthetic, schema, rules, arms, tmp_path):
    figures = _all_figures(real, synthetic, schema, rules, arms)

    pending = {n: f for n, f in figures.items() if not _render_with_kaleido(f, tmp_path / f"{n}.png")}
    if pending:
        _render_with_playwright(pending, tmp_path)

    for name in figures:
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 8000, f"{name}.png is only {len(data)} bytes: nothing was drawn"


def test_run_map_rule_region_and_dag_figures():
    from synth_core.compare import choose_rows, run_map
    from synth_core.data import make_dataset
    from synth_core.pipeline import run_pipeline
    from synth_core.rules import parse_rule
    from synth_core.viz import dag_figure, rule_region_figure, run_map_figure

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "z": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)}
    )
    frame["y"] = np.where(frame["x"] > 0, "p", "n")
    ds = make_dataset(frame, target="y", seed=0)
    rule = parse_rule("x > 0", id="R1", status="approved")
    run = run_pipeline(
        ds,
        [rule, parse_rule("x <= 0", id="R2", status="approved")],
        method="jitter",
        n=60,
        guard=False,
        folds=2,
        repeats=1,
    )
    mapped = run_map(run, max_points=200)
    chosen = choose_rows(run.rows, status="kept", rule_ids=["R1"])
    fig = run_map_figure(mapped, chosen["_row_id"])
    names = [t.name for t in fig.data]
    assert names == ["real", "other candidates", "chosen synthetic rows"]
    highlighted = set(fig.data[2].customdata[:, 0])
    assert highlighted and highlighted <= set(chosen["_row_id"])  # only chosen rows are bright
    assert not highlighted & set(fig.data[1].customdata[:, 0])
    region = rule_region_figure(rule, ds.train, ds.schema)
    assert region.layout.title.text.startswith(f"{int(rule.mask(ds.train).sum()):,} of 200 real rows")
    dag = dag_figure([("x", "y"), ("c", "y")], ["x", "c", "y"])
    assert len(dag.layout.annotations) == 2 and list(dag.data[0].text) == ["x", "c", "y"]

"""Plotly figures comparing synthetic rows with real ones. No streamlit here.

Every function returns a :class:`plotly.graph_objects.Figure` and never shows
it or changes plotly's global settings (renderers, default template): each
figure carries its own template. Colours come from one colour-blind-safe
palette (Okabe & Ito), defined once below; axes are labelled with column names.

Figures take data or a metric's breakdown, as the evaluation modules return
them:

- :func:`tsne_figure` — t-SNE map of real vs synthetic rows (cached
  embedding, capped at 5,000 points as the subtitle says), coloured by source,
  rule or class; hovering shows the row's values, and each point's
  ``customdata[0]`` is its row label, so a lasso selection maps back to rows
  (:func:`selected_rows`).
- :func:`column_figure` — one column: histogram or ECDF overlay for numbers,
  share bars for categories.
- :func:`column_shapes_figure`, :func:`pair_trends_figure` — per-column
  scores and the pair-trend difference heatmap, from the metric breakdowns.
- :func:`rule_coverage_figure` — rows per rule (real support vs synthetic) and
  the error of each rule's model.
- :func:`mds_arm_figure` — MDS arms: utility against diversity, accepted or not.
- :func:`run_map_figure` — a run's map (:func:`synth_core.compare.run_map`) with the chosen rows highlighted.
- :func:`rule_region_figure` — the real rows inside and outside one rule, on its first columns.
- :func:`dag_figure` — a dependency DAG over the columns (StructSynth).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._frames import concat_rows
from .errors import DataError, InvalidParameterError
from .evaluation.compliance import rule_summary
from .evaluation.embedding import MAX_POINTS, Embedding, embed_tsne
from .evaluation.fidelity import ID_COLUMNS, RULE_COLUMNS, category_texts, find_column, resolve_columns

__all__ = [
    "OKABE_ITO",
    "PALETTE",
    "SEQUENTIAL",
    "SOURCE_COLORS",
    "STATUS_COLORS",
    "TEMPLATE",
    "column_figure",
    "column_shapes_figure",
    "dag_figure",
    "mds_arm_figure",
    "pair_trends_figure",
    "rule_coverage_figure",
    "rule_region_figure",
    "run_map_figure",
    "selected_rows",
    "tsne_figure",
]

# --------------------------------------------------------------------------- the one palette

#: Okabe & Ito (2008) colours, distinguishable with the common colour-vision deficiencies.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
#: Order for categorical colourings (rules, classes); yellow late, it is weak on white.
PALETTE = [
    OKABE_ITO[k]
    for k in ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "yellow", "black")
]
SOURCE_COLORS = {"real": OKABE_ITO["blue"], "synthetic": OKABE_ITO["orange"]}
STATUS_COLORS = {
    "accepted": OKABE_ITO["bluish_green"],
    "rejected": OKABE_ITO["vermillion"],
    "approved": OKABE_ITO["bluish_green"],
    "proposed": OKABE_ITO["sky_blue"],
}
#: Sequential scale for heatmaps (perceptually uniform and colour-blind safe).
SEQUENTIAL = "Cividis"
#: Template set on each figure (never as plotly's default).
TEMPLATE = "plotly_white"
_MAX_HOVER_COLUMNS = 12


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _base_layout(fig: go.Figure, title: str, subtitle: str | None = None, **layout) -> go.Figure:
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(
        template=TEMPLATE,
        title={"text": text, "x": 0.01, "xanchor": "left"},
        legend={"title": {"text": ""}},
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        **layout,
    )
    return fig


def _check_columns(frame: pd.DataFrame, needed: Iterable[str], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} needs column(s) {', '.join(map(repr, missing))}; the frame has "
            f"{', '.join(map(str, frame.columns[:30]))}."
        )


def _hover_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- t-SNE


def tsne_figure(
    real: pd.DataFrame,
    synthetic: pd.DataFrame | None = None,
    *,
    schema=None,
    color_by: str = "source",
    rule_column: str | None = None,
    target: str | None = None,
    hover_columns: Sequence[str] | None = None,
    max_points: int = MAX_POINTS,
    random_state: int | None = 0,
    perplexity: float = 30.0,
    max_iter: int = 500,
    embedding: Embedding | None = None,
) -> go.Figure:
    """t-SNE scatter of real and synthetic rows.

    Parameters
    ----------
    real, synthetic : DataFrame
        ``synthetic`` may already be a selection (:func:`~synth_core.evaluation.select_rows`).
    schema : Schema, optional
    color_by : {'source', 'rule', 'class'}
        Colour by real / synthetic, by the synthetic row's rule (real rows are
        ``'real'``), or by the target's value (``target`` or ``schema.target``).
    rule_column : str, optional
        Synthetic column holding the rule id (default ``_rule_id`` or ``rule_id``).
    hover_columns : list of str, optional
        Values shown on hover (default: the first 12 compared columns).
    max_points, random_state, perplexity, max_iter
        Passed to :func:`~synth_core.evaluation.embedding.embed_tsne`
        (which caches the map, so changing only ``color_by`` is cheap).
    embedding : Embedding, optional
        A map computed before; the other t-SNE arguments are then ignored.

    Returns
    -------
    Figure
        Each trace's ``customdata[:, 0]`` holds the row id (a synthetic row's
        ``_row_id`` when it has one, else its index label) and
        ``customdata[:, 1]`` the source.
    """
    if color_by not in ("source", "rule", "class"):
        raise InvalidParameterError(f"color_by must be one of 'source', 'rule', 'class'; got {color_by!r}.")
    synthetic = real.iloc[:0] if synthetic is None else synthetic
    if embedding is None:
        embedding = embed_tsne(
            real,
            synthetic,
            schema=schema,
            max_points=max_points,
            random_state=random_state,
            perplexity=perplexity,
            max_iter=max_iter,
        )
    schema_, numeric, categorical = resolve_columns(real, synthetic if len(synthetic) else real, schema)
    coords = embedding.coords
    is_real = (coords["source"] == "real").to_numpy()
    pos = coords["position"].to_numpy()
    rows = (
        concat_rows([real.iloc[pos[is_real]], synthetic.iloc[pos[~is_real]]], ignore_index=True)
        if (~is_real).any()
        else real.iloc[pos[is_real]].reset_index(drop=True)
    )

    if color_by == "source":
        labels = coords["source"].to_numpy()
    elif color_by == "rule":
        rule_column = find_column(synthetic, RULE_COLUMNS, rule_column)
        if len(synthetic) and (rule_column is None or rule_column not in synthetic.columns):
            raise DataError(f"cannot colour by rule: the synthetic rows have no {rule_column!r} column.")
        syn_rules = (
            synthetic[rule_column].iloc[pos[~is_real]].map(_hover_text).to_numpy()
            if len(synthetic)
            else np.array([], dtype=object)
        )
        labels = np.concatenate(
            [np.array(["real"] * int(is_real.sum()), dtype=object), np.asarray(syn_rules, dtype=object)]
        )
    else:
        target = target or schema_.target
        if target is None:
            raise DataError("cannot colour by class: name the target (target=...) or give a schema with one.")
        _check_columns(real, [target], "colouring by class")
        labels = (
            rows[target].map(_hover_text).to_numpy()
            if target in rows.columns
            else np.array(["missing"] * len(rows), dtype=object)
        )

    hover = (
        list(hover_columns)
        if hover_columns is not None
        else [c for c in schema_.names if c in numeric or c in categorical][:_MAX_HOVER_COLUMNS]
    )
    hover = [c for c in hover if c in rows.columns]
    custom = np.empty((len(rows), 2 + len(hover)), dtype=object)
    id_column = find_column(synthetic, ID_COLUMNS)
    ids = coords["row"].to_numpy(dtype=object).copy()
    if id_column is not None and (~is_real).any():
        ids[~is_real] = synthetic[id_column].iloc[pos[~is_real]].to_numpy(dtype=object)
    custom[:, 0] = [_hover_text(v) for v in ids]
    custom[:, 1] = coords["source"].to_numpy()
    for j, col in enumerate(hover):
        custom[:, 2 + j] = [_hover_text(v) for v in rows[col]]
    template = (
        "<b>%{customdata[1]}</b> row %{customdata[0]}<br>"
        + "<br>".join(f"{col}: %{{customdata[{2 + j}]}}" for j, col in enumerate(hover))
        + "<extra>%{fullData.name}</extra>"
    )

    fig = go.Figure()
    order = list(dict.fromkeys(labels.tolist()))
    if color_by == "source":
        order = [s for s in ("real", "synthetic") if s in order]
    elif "real" in order:
        order = ["real"] + [o for o in order if o != "real"]
    for i, label in enumerate(order):
        mask = labels == label
        if color_by == "source":
            color = SOURCE_COLORS[label]
        elif label == "real" and color_by == "rule":
            color = "#999999"
        else:
            color = _color(i)
        symbol = (
            np.where(is_real[mask], "circle", "diamond")
            if color_by != "source"
            else ("circle" if label == "real" else "diamond")
        )
        fig.add_trace(
            go.Scatter(
                x=coords["x"].to_numpy()[mask],
                y=coords["y"].to_numpy()[mask],
                mode="markers",
                name=str(label),
                marker={"color": color, "size": 5, "opacity": 0.7, "symbol": symbol, "line": {"width": 0}},
                customdata=custom[mask],
                hovertemplate=template,
            )
        )
    what = {"source": "source", "rule": "rule", "class": f"class ({target})" if color_by == "class" else ""}
    _base_layout(
        fig,
        f"t-SNE of real and synthetic rows, coloured by {what[color_by]}",
        embedding.subtitle,
        xaxis_title="t-SNE 1",
        yaxis_title="t-SNE 2",
        dragmode="lasso",
    )
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    return fig


def selected_rows(points: Iterable[dict], *, source: str = "synthetic") -> list:
    """Row labels of ``source`` among lasso-selected points of :func:`tsne_figure`.

    ``points`` is what a plotly selection event gives (dicts with ``customdata``),
    e.g. Streamlit's ``event.selection.points``. Ids come back as text: pass
    them to :func:`~synth_core.evaluation.select_rows` as ``row_ids`` (it
    matches ``_row_id`` as text; without that column, map them to the
    frame's index type first).
    """
    out = []
    for p in points:
        data = p.get("customdata") if isinstance(p, dict) else None
        if data is not None and len(data) >= 2 and data[1] == source:
            out.append(data[0])
    return out


# --------------------------------------------------------------------------- single columns


def _numeric(s: pd.Series) -> np.ndarray:
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    return x[np.isfinite(x)]


def column_figure(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    column: str,
    *,
    schema=None,
    kind: str = "auto",
    bins: int = 30,
    max_categories: int = 20,
) -> go.Figure:
    """Real vs synthetic distribution of one column.

    Parameters
    ----------
    kind : {'auto', 'histogram', 'ecdf', 'bar'}
        ``'auto'`` draws a histogram for numbers and share bars for categories.
    bins : int
        Histogram bins, edges from the real values.
    max_categories : int
        Categories drawn (by real share); the rest are summed as ``'(other)'``.
    """
    if kind not in ("auto", "histogram", "ecdf", "bar"):
        raise InvalidParameterError(f"kind must be one of 'auto', 'histogram', 'ecdf', 'bar'; got {kind!r}.")
    _check_columns(real, [column], "column_figure (real rows)")
    _check_columns(synthetic, [column], "column_figure (synthetic rows)")
    _, numeric, _ = resolve_columns(real, synthetic, schema, [column])
    is_num = column in numeric
    if kind == "auto":
        kind = "histogram" if is_num else "bar"
    if kind in ("histogram", "ecdf") and not is_num:
        raise InvalidParameterError(f"{column!r} is not numeric; use kind='bar'.")
    fig = go.Figure()
    missing = (
        f"missing: real {real[column].isna().mean():.1%}, synthetic {synthetic[column].isna().mean():.1%}"
    )
    if kind == "histogram":
        r, s = _numeric(real[column]), _numeric(synthetic[column])
        both = np.concatenate([r, s]) if len(r) + len(s) else np.zeros(1)
        edges = np.histogram_bin_edges(
            r if len(r) else both,
            bins=bins,
            range=(float(both.min()), float(both.max())) if len(both) else None,
        )
        centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        for name, x in (("real", r), ("synthetic", s)):
            counts = np.histogram(x, bins=edges)[0]
            share = counts / max(len(x), 1)
            fig.add_trace(
                go.Bar(
                    x=centers,
                    y=share,
                    width=widths,
                    name=name,
                    opacity=0.6,
                    marker={"color": SOURCE_COLORS[name]},
                    hovertemplate=f"{name}<br>{column}: %{{x:.4g}}<br>share: %{{y:.3f}}<extra></extra>",
                )
            )
        _base_layout(
            fig,
            f"Distribution of {column}",
            missing,
            barmode="overlay",
            xaxis_title=column,
            yaxis_title="share of rows",
        )
    elif kind == "ecdf":
        for name, x in (("real", _numeric(real[column])), ("synthetic", _numeric(synthetic[column]))):
            x = np.sort(x)
            if len(x) > 2000:  # keep the figure small: 2,000 quantiles draw the same curve
                x = np.quantile(x, np.linspace(0, 1, 2000))
            y = np.arange(1, len(x) + 1) / max(len(x), 1)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=name,
                    line={"color": SOURCE_COLORS[name], "shape": "hv", "width": 2},
                    hovertemplate=f"{name}<br>{column} ≤ %{{x:.4g}}: %{{y:.3f}}<extra></extra>",
                )
            )
        _base_layout(
            fig,
            f"Cumulative distribution of {column}",
            missing,
            xaxis_title=column,
            yaxis_title="share of rows ≤ value",
        )
    else:
        p = category_texts(real[column]).value_counts(normalize=True)
        q = category_texts(synthetic[column]).value_counts(normalize=True)
        shown = list(p.index[:max_categories])
        shown += [c for c in q.index if c not in shown][: max(0, max_categories - len(shown))]
        p_, q_ = p.reindex(shown, fill_value=0.0), q.reindex(shown, fill_value=0.0)
        cats = [str(c) for c in shown]
        if len(set(p.index) | set(q.index)) > len(shown):
            cats.append("(other)")
            p_ = pd.concat([p_, pd.Series([1.0 - p_.sum()])])
            q_ = pd.concat([q_, pd.Series([1.0 - q_.sum()])])
        for name, share in (("real", p_), ("synthetic", q_)):
            fig.add_trace(
                go.Bar(
                    x=cats,
                    y=share.to_numpy(),
                    name=name,
                    marker={"color": SOURCE_COLORS[name]},
                    hovertemplate=f"{name}<br>{column} = %{{x}}<br>share: %{{y:.3f}}<extra></extra>",
                )
            )
        _base_layout(
            fig,
            f"Categories of {column}",
            missing,
            barmode="group",
            xaxis_title=column,
            yaxis_title="share of rows",
        )
    return fig


def column_shapes_figure(breakdown: dict) -> go.Figure:
    """Per-column shape score (``1 - KS`` / ``1 - TVD``) from a ColumnShapes breakdown, worst first."""
    by_column = breakdown.get("by_column")
    if by_column is None:
        raise DataError("column_shapes_figure needs a ColumnShapes breakdown (a dict with 'by_column').")
    items = sorted(by_column.items(), key=lambda kv: np.nan_to_num(kv[1].get("score", np.nan), nan=-1.0))
    cols = [c for c, _ in items]
    scores = [
        d.get("score") if d.get("score") is not None and np.isfinite(d.get("score")) else 0.0
        for _, d in items
    ]
    colors = [
        SOURCE_COLORS["real"] if d.get("metric") == "KSComplement" else OKABE_ITO["bluish_green"]
        for _, d in items
    ]
    notes = [d.get("error", d.get("metric", "")) for _, d in items]
    fig = go.Figure(
        go.Bar(
            x=scores,
            y=cols,
            orientation="h",
            marker={"color": colors},
            customdata=notes,
            hovertemplate="%{y}: %{x:.3f}<br>%{customdata}<extra></extra>",
            showlegend=False,
        )
    )
    _base_layout(
        fig,
        "Column shapes",
        "1 − KS for numbers (blue), 1 − TVD for categories (green)",
        xaxis_title="similarity (1 = same distribution)",
        yaxis_title="column",
        height=max(300, 28 * len(cols) + 120),
    )
    fig.update_xaxes(range=[0, 1])
    return fig


def pair_trends_figure(breakdown: dict, *, zmax: float | None = None) -> go.Figure:
    """Heatmap of ``1 - similarity`` per column pair from a ColumnPairTrends breakdown.

    Unscored pairs (over the cap or failing) are blank; hovering shows the real
    and synthetic correlation for number pairs.
    """
    pairs = breakdown.get("by_pair")
    if pairs is None:
        raise DataError("pair_trends_figure needs a ColumnPairTrends breakdown (a dict with 'by_pair').")
    cols = list(dict.fromkeys(c for p in pairs for c in p["columns"]))
    idx = {c: i for i, c in enumerate(cols)}
    z = np.full((len(cols), len(cols)), np.nan)
    text = np.full((len(cols), len(cols)), "", dtype=object)
    for p in pairs:
        a, b = p["columns"]
        if "score" in p:
            diff = 1.0 - p["score"]
            note = f"{p['metric']}: {p['score']:.3f}"
            if "real" in p:
                note += f"<br>corr real {p['real']:.3f}, synthetic {p['synthetic']:.3f}"
        else:
            diff, note = np.nan, p.get("error", "not scored")
        for i, j in ((idx[a], idx[b]), (idx[b], idx[a])):
            z[i, j], text[i, j] = diff, note
    finite = z[np.isfinite(z)]
    top = zmax if zmax is not None else max(0.1, float(finite.max()) if len(finite) else 0.1)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=cols,
            y=cols,
            zmin=0.0,
            zmax=top,
            colorscale=SEQUENTIAL,
            customdata=text,
            colorbar={"title": {"text": "1 − similarity"}},
            hovertemplate="%{y} × %{x}: %{z:.3f}<br>%{customdata}<extra></extra>",
        )
    )
    n_scored, n_pairs = breakdown.get("n_scored", len(pairs)), breakdown.get("n_pairs", len(pairs))
    sub = f"{n_scored} of {n_pairs} pairs compared; 0 = same trend"
    _base_layout(
        fig,
        "Column-pair trend differences",
        sub,
        xaxis_title="column",
        yaxis_title="column",
        height=max(400, 24 * len(cols) + 160),
    )
    fig.update_yaxes(autorange="reversed")
    return fig


# --------------------------------------------------------------------------- rules and arms


def rule_coverage_figure(
    rules: Sequence,
    *,
    real: pd.DataFrame | None = None,
    synthetic: pd.DataFrame | None = None,
    rule_column: str | None = None,
) -> go.Figure:
    """Rows per rule (real support vs synthetic rows) and each rule's model error.

    ``rules`` are :class:`~synth_core.rules.Rule` objects; support and error
    come from the rules (support counted on ``real`` when unknown), synthetic
    rows from ``rule_column``. Bars are coloured by rule status in the error panel.
    """
    if not rules:
        raise DataError("rule_coverage_figure needs at least one rule.")
    table = rule_summary(rules, real=real, synthetic=synthetic, rule_column=rule_column)
    labels = table["rule"].tolist()
    hover = [
        f"{t}<br>status: {s}, origin: {o}"
        for t, s, o in zip(table["text"], table["status"], table["origin"], strict=True)
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("rows per rule", "error of the rule's model"),
    )
    support = table["support"].astype(float).fillna(0.0).to_numpy()
    fig.add_trace(
        go.Bar(
            y=labels,
            x=support,
            orientation="h",
            name="real support",
            marker={"color": SOURCE_COLORS["real"]},
            customdata=hover,
            hovertemplate="%{y}: %{x:.0f} real rows<br>%{customdata}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if synthetic is not None:
        syn_rows = table["synthetic_rows"].astype(float).fillna(0.0).to_numpy()
        comp = [
            f"compliance {c:.1%}" if c is not None and np.isfinite(c) else "compliance -"
            for c in table["compliance"].astype(float)
        ]
        fig.add_trace(
            go.Bar(
                y=labels,
                x=syn_rows,
                orientation="h",
                name="synthetic rows",
                marker={"color": SOURCE_COLORS["synthetic"]},
                customdata=comp,
                hovertemplate="%{y}: %{x:.0f} synthetic rows<br>%{customdata}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    errors = table["error"].astype(float).to_numpy()
    colors = [STATUS_COLORS.get(s, OKABE_ITO["black"]) for s in table["status"]]
    fig.add_trace(
        go.Bar(
            y=labels,
            x=np.nan_to_num(errors, nan=0.0),
            orientation="h",
            name="model error",
            marker={"color": colors},
            customdata=hover,
            showlegend=False,
            hovertemplate="%{y}: error %{x:.4g}<br>%{customdata}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    _base_layout(
        fig,
        "Rule coverage and rule error",
        "error bars coloured by status: green approved, light blue proposed, vermillion rejected",
        barmode="group",
        height=max(320, 30 * len(labels) * (2 if synthetic is not None else 1) + 140),
    )
    fig.update_xaxes(title_text="rows", row=1, col=1)
    fig.update_xaxes(title_text="error (error rate or MSE)", row=1, col=2)
    fig.update_yaxes(title_text="rule", autorange="reversed", row=1, col=1)
    return fig


def mds_arm_figure(arms: pd.DataFrame) -> go.Figure:
    """MDS arms: utility against diversity, accepted arms in green, rejected in vermillion.

    ``arms`` needs the columns ``arm``, ``utility``, ``diversity`` and ``accepted``.
    """
    _check_columns(arms, ["arm", "utility", "diversity", "accepted"], "mds_arm_figure")
    fig = go.Figure()
    accepted = arms["accepted"].astype(bool).to_numpy()
    for flag, name, symbol in ((True, "accepted", "circle"), (False, "rejected", "x")):
        part = arms[accepted == flag]
        if not len(part):
            continue
        fig.add_trace(
            go.Scatter(
                x=part["diversity"].astype(float),
                y=part["utility"].astype(float),
                mode="markers+text",
                text=part["arm"].astype(str),
                textposition="top center",
                name=name,
                marker={"color": STATUS_COLORS[name], "size": 11, "symbol": symbol},
                hovertemplate="arm %{text}<br>diversity %{x:.3f}<br>utility %{y:.3f}<extra>"
                + name
                + "</extra>",
            )
        )
    _base_layout(
        fig,
        "MDS arms",
        f"{int(accepted.sum())} of {len(arms)} arms accepted; u = α (1 − error) + (1 − α) diversity",
        xaxis_title="diversity",
        yaxis_title="utility",
    )
    return fig


# --------------------------------------------------------------------------- the Compare page's map


def run_map_figure(run_map, chosen_ids=()) -> go.Figure:
    """A run's map: real rows, the other candidates faint, the chosen rows bright. Each candidate point's
    ``customdata[0]`` is its row id, so a lasso selection maps back to rows (:func:`selected_rows`)."""
    coords = run_map.coords
    chosen = coords["row_id"].isin({str(i) for i in chosen_ids}).to_numpy()
    real = (coords["source"] == "real").to_numpy()
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=coords.loc[real, "x"],
            y=coords.loc[real, "y"],
            mode="markers",
            name="real",
            marker={"color": SOURCE_COLORS["real"], "size": 5, "opacity": 0.45},
            hoverinfo="skip",
        )
    )
    for name, mask, style in (
        ("other candidates", ~real & ~chosen, {"color": "#BBBBBB", "size": 4, "opacity": 0.4}),
        (
            "chosen synthetic rows",
            ~real & chosen,
            {"color": SOURCE_COLORS["synthetic"], "size": 6, "opacity": 0.9},
        ),
    ):
        ids = coords.loc[mask, "row_id"].to_numpy()
        fig.add_trace(
            go.Scattergl(
                x=coords.loc[mask, "x"],
                y=coords.loc[mask, "y"],
                mode="markers",
                name=name,
                marker=style,
                customdata=np.column_stack([ids, np.full(len(ids), "synthetic")]) if len(ids) else None,
                hovertemplate="row %{customdata[0]}<extra></extra>",
            )
        )
    _base_layout(fig, "t-SNE of real and synthetic rows", run_map.subtitle, height=480, dragmode="lasso")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def rule_region_figure(rule, frame: pd.DataFrame, schema, *, height: int = 300) -> go.Figure:
    """Real rows on the rule's first one or two columns, inside the rule in blue."""
    mask = np.asarray(rule.mask(frame), dtype=bool)
    cols = [c for c in rule.columns if c in frame.columns] or [c for c in schema.features if c in frame][:1]
    fig = go.Figure()
    for name, part, colour in (("inside the rule", mask, OKABE_ITO["blue"]), ("outside", ~mask, "#CCCCCC")):
        rows = frame[part]
        if len(cols) >= 2 and schema[cols[0]].is_numeric and schema[cols[1]].is_numeric:
            fig.add_trace(
                go.Scattergl(
                    x=rows[cols[0]],
                    y=rows[cols[1]],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "size": 5, "opacity": 0.6},
                )
            )
        else:
            fig.add_trace(
                go.Histogram(
                    x=rows[cols[0]].astype(str) if not schema[cols[0]].is_numeric else rows[cols[0]],
                    name=name,
                    marker_color=colour,
                )
            )
    _base_layout(
        fig,
        f"{int(mask.sum()):,} of {len(frame):,} real rows inside the rule",
        height=height,
        barmode="stack",
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(title_text=cols[0])
    if len(cols) >= 2 and schema[cols[0]].is_numeric and schema[cols[1]].is_numeric:
        fig.update_yaxes(title_text=cols[1])
    return fig


def dag_figure(edges, columns=None, *, title: str = "Dependency DAG") -> go.Figure:
    """A dependency DAG: columns in layers by depth, arrows from cause to effect (cycles broken as StructSynth
    breaks them)."""
    from .generators.structsynth import break_cycles, topological_order

    edges = [(str(a), str(b)) for a, b in edges]
    nodes = list(dict.fromkeys(list(columns or []) + [c for e in edges for c in e]))
    kept, _ = break_cycles(edges)
    depth = {c: 0 for c in nodes}
    for c in topological_order(nodes, kept):
        for a, b in kept:
            if a == c:
                depth[b] = max(depth[b], depth[a] + 1)
    layers: dict = {}
    for c in nodes:
        layers.setdefault(depth[c], []).append(c)
    pos = {c: (d, i - (len(members) - 1) / 2) for d, members in layers.items() for i, c in enumerate(members)}
    fig = go.Figure()
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_annotation(
            x=x1,
            y=y1,
            ax=x0,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=1.5,
            standoff=14,
            startstandoff=14,
            arrowcolor="#888888",
        )
    fig.add_trace(
        go.Scatter(
            x=[pos[c][0] for c in nodes],
            y=[pos[c][1] for c in nodes],
            mode="markers+text",
            text=nodes,
            textposition="top center",
            marker={"size": 18, "color": OKABE_ITO["blue"]},
            hovertext=[f"{c}: parents {[a for a, b in edges if b == c] or 'none'}" for c in nodes],
            hoverinfo="text",
            showlegend=False,
        )
    )
    _base_layout(fig, title, height=360)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig

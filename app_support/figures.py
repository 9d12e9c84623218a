"""Small plotly figures for the pages. ``synth_core.viz`` is used where it has the figure;
these are the fallbacks (and the rule-region sketch, which is page-specific)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

REAL, SYNTH, IN_RULE, OUT_RULE = "#999999", "#D55E00", "#0072B2", "#CCCCCC"


def _viz(name: str):
    try:
        from synth_core import viz
    except ImportError:
        return None
    return getattr(viz, name, None)


def rule_region(rule, frame: pd.DataFrame, schema, *, height: int = 300) -> go.Figure:
    """Real rows on the rule's first one or two columns, inside the rule in blue."""
    mask = rule.mask(frame)
    cols = [c for c in rule.columns if c in frame.columns] or [c for c in schema.features if c in frame][:1]
    inside = np.where(mask, "inside the rule", "outside")
    if len(cols) >= 2 and schema[cols[0]].is_numeric and schema[cols[1]].is_numeric:
        fig = px.scatter(frame.assign(region=inside), x=cols[0], y=cols[1], color="region", opacity=0.6,
                         color_discrete_map={"inside the rule": IN_RULE, "outside": OUT_RULE})
    else:
        col = cols[0]
        fig = px.histogram(frame.assign(region=inside), x=col, color="region", barmode="stack",
                           color_discrete_map={"inside the rule": IN_RULE, "outside": OUT_RULE})
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="",
                      title=f"{int(mask.sum()):,} of {len(frame):,} train rows")
    return fig


def tsne_scatter(coords: pd.DataFrame, synthetic: pd.DataFrame, subtitle: str = "") -> go.Figure:
    """Real (grey) and synthetic (orange) points; synthetic points carry their row id for selections."""
    fig = go.Figure()
    real = coords[coords["source"] == "real"]
    fig.add_trace(go.Scatter(x=real["x"], y=real["y"], mode="markers", name="real",
                               marker=dict(color=REAL, size=5, opacity=0.5), hoverinfo="skip"))
    syn = coords[coords["source"] == "synthetic"]
    ids = synthetic["_row_id"].to_numpy()[syn["position"].to_numpy()] if len(syn) else []
    rules = synthetic["_rule_id"].astype(str).to_numpy()[syn["position"].to_numpy()] if len(syn) else []
    fig.add_trace(go.Scatter(x=syn["x"], y=syn["y"], mode="markers", name="synthetic",
                               customdata=np.column_stack([ids, rules]) if len(syn) else None,
                               hovertemplate="row %{customdata[0]}<br>rule %{customdata[1]}<extra></extra>",
                               marker=dict(color=SYNTH, size=6, opacity=0.8)))
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=40, b=10), dragmode="lasso",
                      title=dict(text=f"t-SNE of real vs synthetic rows<br><sup>{subtitle}</sup>"),
                      legend=dict(orientation="h", y=-0.05), xaxis_visible=False, yaxis_visible=False)
    return fig


def distribution(real: pd.Series, synthetic: pd.Series, *, numeric: bool) -> go.Figure:
    """Overlaid normalised histograms (numbers) or category shares (categories)."""
    name = str(real.name)
    if numeric:
        fig = go.Figure()
        fig.add_trace(go.Histogram(x=pd.to_numeric(real, errors="coerce"), name="real", histnorm="probability",
                                   marker_color=REAL, opacity=0.6))
        fig.add_trace(go.Histogram(x=pd.to_numeric(synthetic, errors="coerce"), name="synthetic",
                                   histnorm="probability", marker_color=SYNTH, opacity=0.6))
        fig.update_layout(barmode="overlay")
    else:
        shares = pd.DataFrame({"real": real.astype(str).value_counts(normalize=True),
                               "synthetic": synthetic.astype(str).value_counts(normalize=True)}).fillna(0)
        shares = shares.sort_values("real", ascending=False).head(30)
        fig = go.Figure([go.Bar(x=shares.index, y=shares["real"], name="real", marker_color=REAL),
                         go.Bar(x=shares.index, y=shares["synthetic"], name="synthetic", marker_color=SYNTH)])
        fig.update_layout(barmode="group")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title=name, yaxis_title="share")
    return fig


def from_viz(name: str, *args, **kwargs):
    """A figure from ``synth_core.viz`` (None when this build lacks it or the data do not fit it)."""
    from synth_core.errors import SynthError

    fn = _viz(name)
    if fn is None:
        return None
    try:
        return fn(*args, **kwargs)
    except SynthError:
        return None

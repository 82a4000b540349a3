"""Charts of the Experiments page and the robustness lab: DataFrame in, plotly Figure out (no streamlit).

* :func:`accuracy_vs_time` — Experiment 1/2: one filled point per method (ours), the article's Table 1 or 2 as
  hollow markers of the same colour in their own legend group, a dotted line joining theirs to ours.
* :func:`method_bars` — accuracy / mAP / pair F1 and time per pair (amortised vs with encoding) per method.
* :func:`sweep_facets` — the transform sweep: one line per method, one facet per transform, y = share still
  detected (``detected_rate``) or the threshold-normalised score (``mean_margin``).
* :func:`scipy_numpy_box` — Experiment 3: per-call time distributions, log y, medians annotated.
* :func:`lab_curve` — the robustness lab: score vs strength for one image and transform, current strength marked.

Colours: one per method, fixed by registry order (:func:`method_colours`), so a method has the same colour on
every chart of the page.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import transforms as _T
from ..methods import METHODS, REGISTRY
from .safe import plot_text

_PALETTE = px.colors.qualitative.D3 + px.colors.qualitative.Plotly
OURS_SYMBOL = "circle"
THEIRS_SYMBOL = "diamond-open"
CURRENT_COLOUR = "#1f5fa8"
THRESHOLD_COLOUR = "#c0392b"


def method_colours() -> dict[str, str]:
    """``{method name: colour}`` in registry order (stable across pages and runs)."""
    return {m.name: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(REGISTRY)}


def _label(name: str) -> str:
    m = METHODS.get(name)
    return plot_text(m.label if m else name)


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height, template="plotly_white",
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def _fmt_seconds(s: float) -> str:
    if not (isinstance(s, (int, float)) and math.isfinite(s)):
        return "n/a"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e9:.0f} ns"


# ----------------------------------------------------------------------------------------------- Experiment 1/2
def accuracy_vs_time(table: pd.DataFrame, article: pd.DataFrame | None = None, *,
                     time_col: str = "seconds_per_pair_with_encoding", ours_label: str = "ours",
                     article_label: str = "article", title: str | None = None) -> go.Figure:
    """Accuracy (precision@3) against time per pair, log x.

    Parameters
    ----------
    table : DataFrame
        :data:`core.experiments.SPEED_COLUMNS` (``method``, ``accuracy`` as a fraction, ``time_col``).
    article : DataFrame, optional
        :data:`core.article.ARTICLE_SPEED` rows of one table (``method, accuracy, seconds_per_pair``); drawn as hollow
        diamonds in the legend group ``article_label``, joined to our point of the same method by a dotted line.
    time_col : str
        ``seconds_per_pair_with_encoding`` (comparable with the article, whose times include encoding) or
        ``seconds_per_pair`` (features once, vectorised comparison).
    """
    colours = method_colours()
    ours_label, article_label = plot_text(ours_label), plot_text(article_label)  # e.g. "ours (<dataset name>)"
    fig = go.Figure()
    ours = table[["method", "accuracy", time_col]].rename(columns={time_col: "t"})
    theirs = None
    if article is not None and len(article):
        theirs = article[["method", "accuracy", "seconds_per_pair"]].rename(columns={"seconds_per_pair": "t"})
        for r in ours.itertuples():  # dotted line: theirs -> ours, per method
            a = theirs[theirs["method"] == r.method]
            if len(a) and np.isfinite(r.t) and r.t > 0:
                fig.add_trace(go.Scatter(x=[a["t"].iloc[0], r.t], y=[100 * a["accuracy"].iloc[0], 100 * r.accuracy],
                                         mode="lines", line=dict(color=colours.get(r.method, "#888"), width=1,
                                                                 dash="dot"),
                                         hoverinfo="skip", showlegend=False))
        for r in theirs.itertuples():
            fig.add_trace(go.Scatter(
                x=[r.t], y=[100 * r.accuracy], mode="markers", name=_label(r.method),
                legendgroup="article", legendgrouptitle_text=article_label,
                marker=dict(symbol=THEIRS_SYMBOL, size=14, color=colours.get(r.method, "#888"), line=dict(width=2)),
                hovertemplate=f"<b>{article_label}</b><br>{_label(r.method)}<br>accuracy %{{y:.2f}} %<br>"
                              "%{x:.4g} s per pair (incl. encoding)<extra></extra>"))
    for k, r in enumerate(ours.itertuples()):
        t = r.t if (np.isfinite(r.t) and r.t > 0) else None
        fig.add_trace(go.Scatter(
            x=[t], y=[100 * r.accuracy], mode="markers+text", name=_label(r.method), text=[plot_text(r.method)],
            textposition=("top center", "bottom center", "middle right", "middle left")[k % 4],  # fewer collisions textfont=dict(size=11, color=colours.get(r.method, "#444")),
            legendgroup="ours", legendgrouptitle_text=ours_label,
            marker=dict(symbol=OURS_SYMBOL, size=13, color=colours.get(r.method, "#444"),
                        line=dict(width=1, color="white")),
            hovertemplate=f"<b>{ours_label}</b><br>{_label(r.method)}<br>accuracy %{{y:.2f}} %<br>"
                          "%{x:.3g} s per pair<extra></extra>"))
    which = "with encoding (the article's way)" if time_col == "seconds_per_pair_with_encoding" else \
        "amortised (features once, vectorised comparison)"
    fig.update_xaxes(type="log", title=f"seconds per pair, {which} — log scale")
    fig.update_yaxes(title="accuracy = precision@3 (%)", range=[-5, 108])
    _layout(fig, title or "Accuracy vs time per pair: filled = ours, hollow ◇ = the article's", height=480)
    fig.update_layout(legend=dict(groupclick="toggleitem"))
    return fig


def method_bars(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Two panels per method: accuracy / mAP / pair F1 (fractions, as %), and seconds per pair amortised vs with
    encoding (log y)."""
    labels = table["method"].tolist()
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.1,
                        subplot_titles=("accuracy (precision@3), mAP, pair F1 at default threshold",
                                        "seconds per pair (log)"))
    for col, name, colour in (("accuracy", "precision@3", "#1f77b4"), ("map", "mAP", "#ff7f0e"),
                              ("pair_f1", "pair F1", "#2ca02c")):
        fig.add_trace(go.Bar(x=labels, y=100 * table[col], name=name, marker_color=colour, legendgroup="acc",
                             text=[f"{100 * v:.0f}" if np.isfinite(v) else "" for v in table[col]],
                             textposition="outside", hovertemplate="%{x}: %{y:.1f} %<extra>" + name + "</extra>"),
                      row=1, col=1)
    for col, name, colour in (("seconds_per_pair", "amortised (features once)", "#9467bd"),
                              ("seconds_per_pair_with_encoding", "with encoding (article's way)", "#8c564b")):
        fig.add_trace(go.Bar(x=labels, y=table[col], name=name, marker_color=colour, legendgroup="time",
                             customdata=[_fmt_seconds(v) for v in table[col]],
                             hovertemplate="%{x}: %{customdata}<extra>" + name + "</extra>"), row=1, col=2)
    fig.update_yaxes(title="%", range=[0, 112], row=1, col=1)
    fig.update_yaxes(type="log", title="seconds", row=1, col=2)
    fig.update_layout(barmode="group", legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    return _layout(fig, title or "Per method", height=460)


# ------------------------------------------------------------------------------------------ transform sweep
SWEEP_Y = {
    "detected_rate": ("share of copies still detected", [-0.05, 1.05]),
    "mean_margin": ("score vs threshold (1 = identical, 0 = at threshold, < 0 = missed)", [-2.0, 1.1]),
}


def _facet_title(name: str) -> str:
    t = _T.TRANSFORMS.get(name)
    return f"{t.label} ({t.unit})" if t else name


def sweep_facets(summary: pd.DataFrame, y: str = "detected_rate", *, wrap: int = 4,
                 title: str | None = None) -> go.Figure:
    """One line per method, one facet per transform, x = the sweep's strengths in the transform's unit.

    Parameters
    ----------
    summary : DataFrame
        :data:`core.experiments.ROBUSTNESS_SUMMARY_COLUMNS`.
    y : {"detected_rate", "mean_margin"}
        ``mean_margin`` is the score normalised per method to its threshold: (score - threshold) / (perfect -
        threshold). Raw scores cannot share an axis (Hamming bits, L2, cosine, SSIM; some lower-is-closer); the
        margin keeps each method's own threshold as the common zero, so "how close to being missed" reads the same
        for every line, and direction is always "up = closer". The axis is clipped to [-2, 1.1].

    Notes
    -----
    The x axes are categorical, one tick per sweep strength, ordered from the identity outwards: sweeps are
    deliberately uneven (rotation 0, 1, 2, 5, 10, 20, 45, 90, 180 degrees) so a linear axis would crush the small,
    interesting strengths; for ``scale`` and ``jpeg`` (identity at the top of the range) it also reads "stronger to
    the right" like every other facet.
    """
    if y not in SWEEP_Y:
        raise ValueError(f"y must be one of {list(SWEEP_Y)}")
    colours = method_colours()
    order = [t for t in _T.TRANSFORMS if t in set(summary["transform"])]
    methods = list(dict.fromkeys(summary["method"]))
    df = summary.sort_values(["severity", "strength"], kind="stable").copy()
    df["method label"] = df["method"].map(_label)
    df["strength "] = df["strength"].map(lambda v: f"{v:g}")  # categorical x
    n_rows = max(1, math.ceil(len(order) / wrap))
    fig = px.line(df, x="strength ", y=y, color="method label", facet_col="transform", facet_col_wrap=wrap,
                  category_orders={"transform": order, "method label": [_label(m) for m in methods]},
                  color_discrete_map={_label(m): colours.get(m, "#888") for m in methods}, markers=True,
                  facet_row_spacing=min(0.08, 0.35 / n_rows), facet_col_spacing=0.04,
                  hover_data={"severity": False, "mean_score": ":.4g", "detected_rate": ":.2f",
                              "mean_margin": ":.2f", "transform": False, "strength ": False, "strength": True})
    fig.for_each_annotation(lambda a: a.update(text=_facet_title(a.text.split("=", 1)[-1])))
    fig.update_xaxes(matches=None, showticklabels=True, title=None, type="category", tickfont=dict(size=10))
    fig.update_yaxes(range=SWEEP_Y[y][1], title=None)
    if y == "mean_margin":
        fig.add_hline(y=0, line_color=THRESHOLD_COLOUR, line_width=1, line_dash="dash")
    fig.update_traces(marker=dict(size=5), line=dict(width=2))
    height = 190 + 210 * n_rows
    top = 120
    _layout(fig, title or (f"Transform sweep — {SWEEP_Y[y][0]}"), height=height)
    fig.update_layout(margin=dict(t=top), title=dict(y=1 - 12 / height, yanchor="top", yref="container"),
                      legend=dict(orientation="h", yanchor="bottom", y=1 + 30 / (height - top - 10), xanchor="left",
                                  x=0, title=None))
    return fig


# ------------------------------------------------------------------------------------------------ Experiment 3
def scipy_numpy_box(calls: pd.DataFrame, summary: pd.DataFrame | None = None, *, title: str | None = None
                    ) -> go.Figure:
    """Per-call time of ``scipy.spatial.distance.euclidean`` vs ``numpy.linalg.norm(a - b)``, one panel per feature
    kind (pixels, CNN), log y, each box's median annotated; panel titles give the median ratio and the largest
    difference of returned values.

    Parameters
    ----------
    calls : DataFrame
        :data:`core.experiments.SCIPY_NUMPY_COLUMNS`.
    summary : DataFrame, optional
        :data:`core.experiments.SCIPY_NUMPY_SUMMARY_COLUMNS` (computed from ``calls`` if omitted).
    """
    if summary is None:
        from ..experiments import scipy_numpy_summary
        summary = scipy_numpy_summary(calls)
    feats = list(dict.fromkeys(calls["feature"]))
    titles = []
    for f in feats:
        s = summary[summary["feature"] == f].iloc[0]
        titles.append(f"{f} ({int(s['dims']):,} dims): scipy/numpy median = {s['ratio_scipy_numpy']:.2f}×, "
                      f"max |Δ value| = {s['max_abs_diff']:.1e}")
    fig = make_subplots(rows=1, cols=max(1, len(feats)), subplot_titles=titles, horizontal_spacing=0.08)
    colours = {"numpy": "#1f77b4", "scipy": "#ff7f0e"}
    for k, f in enumerate(feats, start=1):
        g = calls[calls["feature"] == f]
        for impl in ("numpy", "scipy"):
            s = g[g["implementation"] == impl]["seconds"].to_numpy()
            if not len(s):
                continue
            med = float(np.median(s))
            name = f"{impl}<br><b>median {_fmt_seconds(med)}</b>"  # the median, annotated on the axis itself
            fig.add_trace(go.Box(y=s, x=[name] * len(s), name=impl, marker=dict(color=colours[impl], size=3),
                                 boxpoints="outliers", showlegend=False,
                                 hovertemplate=f"{impl}: %{{y:.3g}} s<extra>{f}</extra>"), row=1, col=k)
        lo, hi = np.percentile(g["seconds"], [0.1, 99.5])
        fig.update_yaxes(type="log", range=[math.log10(lo) - 0.15, math.log10(hi) + 0.3],
                         title="seconds per call (log)" if k == 1 else None, row=1, col=k)
    fig.update_annotations(font_size=12)
    return _layout(fig, title or "Experiment 3 — scipy vs numpy Euclidean, time per call", height=440)


# ----------------------------------------------------------------------------------------------- robustness lab
def lab_curve(curve: pd.DataFrame, current: float | None = None, methods: Sequence[str] | None = None,
              transform: str | None = None, *, thresholds: Mapping[str, float] | None = None) -> go.Figure:
    """Score vs strength for one image and transform (:data:`core.experiments.ROBUSTNESS_COLUMNS`).

    One method: its raw score in its unit, with its threshold as a dashed line and the matching side shaded.
    Several methods: the threshold-normalised score (``margin``; 0 = threshold) so they share an axis.
    ``current`` draws a vertical line at the slider's strength.
    """
    colours = method_colours()
    df = curve if methods is None else curve[curve["method"].isin(list(methods))]
    names = list(dict.fromkeys(df["method"]))
    t = transform or (df["transform"].iloc[0] if len(df) else None)
    tr = _T.TRANSFORMS.get(t) if t else None
    single = len(names) == 1
    ycol = "score" if single else "margin"
    fig = go.Figure()
    for name in names:
        g = df[df["method"] == name].sort_values("strength")
        fig.add_trace(go.Scatter(x=g["strength"], y=g[ycol], mode="lines+markers", name=_label(name),
                                 line=dict(color=colours.get(name, "#888"), width=2), marker=dict(size=5),
                                 customdata=np.stack([g["score"], g["detected"].map({True: "match",
                                                                                     False: "no match"})], -1),
                                 hovertemplate="strength %{x}<br>score %{customdata[0]:.4g}<br>%{customdata[1]}"
                                               f"<extra>{_label(name)}</extra>"))
    if single and names:
        m = METHODS.get(names[0])
        th = (thresholds or {}).get(names[0], float(df["threshold"].iloc[0]))
        fig.add_hline(y=th, line_color=THRESHOLD_COLOUR, line_dash="dash", annotation_text=f"threshold {th:g}",
                      annotation_position="bottom right", annotation_font_color=THRESHOLD_COLOUR)
        ytitle = f"{m.unit if m else 'score'} ({'higher' if (m and m.higher_is_closer) else 'lower'} = closer)"
    else:
        fig.add_hline(y=0, line_color=THRESHOLD_COLOUR, line_dash="dash", annotation_text="threshold",
                      annotation_position="bottom right", annotation_font_color=THRESHOLD_COLOUR)
        fig.update_yaxes(range=[-2, 1.1])
        ytitle = "relative score (1 = same, 0 = threshold)"
    if current is not None:
        fig.add_vline(x=float(current), line_color=CURRENT_COLOUR, line_width=2,
                      annotation_text=f"current {float(current):g}", annotation_position="top right",
                      annotation_font_color=CURRENT_COLOUR)
    if tr is not None and tr.identity >= tr.max:
        fig.update_xaxes(autorange="reversed")
    fig.update_xaxes(title=f"{tr.label} — {tr.unit}" if tr else "strength")
    fig.update_yaxes(title=ytitle)
    _layout(fig, f"Score vs strength — {tr.label if tr else t}", height=460)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
                      margin=dict(b=40))
    return fig


__all__ = ["accuracy_vs_time", "lab_curve", "method_bars", "method_colours", "scipy_numpy_box", "sweep_facets"]

"""Charts of the dashboard's explore pages. Each builder takes a documented DataFrame and returns a
:class:`plotly.graph_objects.Figure`; none of them computes scores (that is :mod:`core.search` /
:mod:`core.evaluation`'s job).

Threshold lines: the *current* threshold is a solid line, the *suggested* (best-F1) one dashed; the side of the
axis that counts as a match is shaded, so the direction of the unit (lower- or higher-is-closer) is visible.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..methods import Method
from .safe import plot_text, plot_texts

DUP_COLOUR = "#2e8b57"  # duplicate pairs / matches
NONDUP_COLOUR = "#9aa3b0"  # non-duplicate pairs
CURRENT_COLOUR = "#1f5fa8"
SUGGESTED_COLOUR = "#e07a1f"
MATCH_SHADE = "rgba(46, 139, 87, 0.07)"


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def _direction(method: Method) -> str:
    return "higher = closer" if method.higher_is_closer else "lower = closer"


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=60, b=10), legend=dict(orientation="h", yanchor="bottom", y=1.0,
                                                                       xanchor="right", x=1.0),
                      template="plotly_white")
    return fig


def _mark_thresholds(fig: go.Figure, method: Method, current: float | None, suggested: float | None,
                     x_range: tuple[float, float] | None = None) -> None:
    """Vertical lines for the current / suggested thresholds and a shaded 'match' side of the current one."""
    if _finite(current):
        cur = float(current)
        if x_range is not None:
            lo, hi = x_range
            x0, x1 = (cur, max(hi, cur)) if method.higher_is_closer else (min(lo, cur), cur)
            if x1 > x0:
                fig.add_vrect(x0=x0, x1=x1, fillcolor=MATCH_SHADE, line_width=0, layer="below")
        fig.add_vline(x=cur, line_color=CURRENT_COLOUR, line_width=2,
                      annotation_text=f"current {cur:g}", annotation_position="top left",
                      annotation_font_color=CURRENT_COLOUR)
    if _finite(suggested):
        sug = float(suggested)
        fig.add_vline(x=sug, line_color=SUGGESTED_COLOUR, line_width=2, line_dash="dash",
                      annotation_text=f"suggested {sug:g}", annotation_position="top right",
                      annotation_font_color=SUGGESTED_COLOUR)


def _bins(scores: np.ndarray, method: Method, params=None, nbins: int = 40) -> dict:
    """Histogram bins in the method's unit: one bin per integer for hash bits, else ``nbins`` over the data."""
    spec = method.threshold_spec(params)
    s = scores[np.isfinite(scores)]
    if not len(s):
        return dict(start=spec.min, end=spec.max, size=(spec.max - spec.min) / nbins or 1)
    lo, hi = float(s.min()), float(s.max())
    if spec.step >= 1:
        return dict(start=math.floor(lo) - 0.5, end=math.ceil(hi) + 0.5, size=1)
    span = hi - lo or max(abs(hi), 1e-6) * 0.1
    return dict(start=lo - 0.02 * span, end=hi + 0.02 * span, size=span / nbins)


def pair_score_histogram(pairs: pd.DataFrame, method: Method, current: float | None = None,
                         suggested: float | None = None, params=None) -> go.Figure:
    """Overlaid histograms of duplicate vs non-duplicate pair scores.

    Parameters
    ----------
    pairs : DataFrame with columns ``score`` (float, method's unit) and ``duplicate`` (bool)
        E.g. :func:`core.evaluation.labelled_pair_scores`. Non-duplicate pairs may be a sample.
    """
    s = pairs["score"].to_numpy(dtype=float)
    dup = pairs["duplicate"].to_numpy(dtype=bool)
    bins = _bins(s, method, params)
    fig = go.Figure()
    # histnorm=percent: there are far more non-duplicate pairs; per-class shares make the overlap readable
    fig.add_trace(go.Histogram(x=s[~dup], name=f"different pictures ({int((~dup).sum())} pairs)", xbins=bins,
                               histnorm="percent", marker_color=NONDUP_COLOUR, opacity=0.65))
    fig.add_trace(go.Histogram(x=s[dup], name=f"duplicates ({int(dup.sum())} pairs)", xbins=bins,
                               histnorm="percent", marker_color=DUP_COLOUR, opacity=0.75))
    fig.update_layout(barmode="overlay")
    rng = (bins["start"], bins["end"])
    _mark_thresholds(fig, method, current, suggested, rng)
    return _layout(fig, f"{method.label}: pair scores ({_direction(method)})", f"{method.unit}",
                   "% of pairs in class")


def prf_curve(sweep: pd.DataFrame, method: Method, current: float | None = None,
              suggested: float | None = None) -> go.Figure:
    """Precision, recall and F1 of duplicate pairs against the threshold.

    Parameters
    ----------
    sweep : DataFrame with columns ``threshold, precision, recall, f1``
        :func:`core.evaluation.threshold_sweep`.
    """
    fig = go.Figure()
    styles = {"precision": ("#1f5fa8", "solid"), "recall": ("#c0392b", "solid"), "f1": ("#2e8b57", "solid")}
    for col, (colour, dash) in styles.items():
        fig.add_trace(go.Scatter(x=sweep["threshold"], y=sweep[col], mode="lines", name=col.upper() if col == "f1"
                                 else col, line=dict(color=colour, dash=dash, width=3 if col == "f1" else 2),
                                 hovertemplate="threshold %{x:g}<br>" + col + " %{y:.3f}<extra></extra>"))
    x = sweep["threshold"].to_numpy(dtype=float)
    rng = (float(x.min()), float(x.max())) if len(x) else None
    _mark_thresholds(fig, method, current, suggested, rng)
    fig.update_yaxes(range=[0, 1.05])
    return _layout(fig, f"{method.label}: precision / recall / F1 of duplicate pairs", f"threshold ({method.unit})",
                   "")


def nearest_neighbour_histogram(nn: pd.DataFrame, method: Method, current: float | None = None,
                                params=None) -> go.Figure:
    """Histogram of each image's score to its nearest other image (unlabelled data).

    Parameters
    ----------
    nn : DataFrame with columns ``name, nearest, score``
        :func:`core.search.nearest_neighbours`.
    """
    s = nn["score"].to_numpy(dtype=float)
    bins = _bins(s, method, params)
    fig = go.Figure(go.Histogram(x=s, xbins=bins, marker_color=CURRENT_COLOUR, opacity=0.8, name="images",
                                 customdata=np.stack([plot_texts(nn["name"]), plot_texts(nn["nearest"])], axis=1)
                                 if len(nn) else None,
                                 hovertemplate="score %{x}<br>%{y} images<extra></extra>"))
    _mark_thresholds(fig, method, current, None, (bins["start"], bins["end"]))
    n_match = int(np.sum(method.is_match(s[np.isfinite(s)], current))) if _finite(current) else None
    title = f"{method.label}: each image's nearest-neighbour score ({_direction(method)})"
    if n_match is not None:
        title += f" — {n_match} of {len(s)} images have a match at {float(current):g}"
    return _layout(fig, title, method.unit, "images")


def _strip_common_dir(names: Sequence[str]) -> list[str]:
    """Names without the folder they all share (``images/a.jpg`` -> ``a.jpg``), for readable axis labels."""
    names = [str(n) for n in names]
    if not names or not all("/" in n for n in names):
        return names
    dirs = {n.rsplit("/", 1)[0] for n in names}
    if len(dirs) == 1:
        cut = len(dirs.pop()) + 1
        return [n[cut:] for n in names]
    return names


def middle_truncate(names: Sequence[str], width: int = 26) -> list[str]:
    """Tick labels at most ``width`` characters, cut in the middle (``IMG_2023…_0412.jpg`` keeps the start and the
    distinguishing end), kept unique so no two bars share a category. Long names otherwise take the plot's width:
    the bars shrank to ~75 px (issue 11, item 8). The full name stays in the hover text."""
    out: list[str] = []
    seen: set[str] = set()
    for n in names:
        s = n if len(n) <= width else n[: (width - 1) // 2] + "…" + n[-(width - 1 - (width - 1) // 2):]
        base, k = s, 2
        while s in seen:
            s, k = f"{base} ({k})", k + 1
        seen.add(s)
        out.append(s)
    return out


def copies_bar(copies: pd.DataFrame, max_bars: int = 40) -> go.Figure:
    """Horizontal bar chart of copies per image (only images with at least one copy), most copies first.

    Parameters
    ----------
    copies : DataFrame with columns ``name, copies``
        :attr:`core.search.Duplicates.copies`.
    """
    d = copies[copies["copies"] > 0].sort_values(["copies", "name"], ascending=[False, True]).head(max_bars)
    labels = plot_texts(middle_truncate(_strip_common_dir(list(d["name"]))))  # tick labels; full name on hover
    fig = go.Figure(go.Bar(y=labels, x=d["copies"], orientation="h", marker_color=CURRENT_COLOUR,
                           customdata=plot_texts(d["name"]),
                           hovertemplate="%{customdata}<br>%{x} other copies<extra></extra>"))
    title = "Other copies of each image"
    if len(d) == 0:
        title += " — no duplicates at this threshold"
    elif (copies["copies"] > 0).sum() > max_bars:
        title += f" (top {max_bars})"
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(dtick=1)
    return _layout(fig, title, "copies", "", height=max(260, 90 + 18 * len(d)))


def agreement_heatmap(matrix: pd.DataFrame, title: str = "Pairwise agreement between methods") -> go.Figure:
    """Square heat map (methods x methods) of agreement scores in [0, 1] (e.g. Jaccard overlap of top-k lists).

    Parameters
    ----------
    matrix : DataFrame, index and columns = method labels, values in [0, 1]
    """
    z = matrix.to_numpy(dtype=float)
    labels_x: Sequence[str] = plot_texts(matrix.columns)
    labels_y: Sequence[str] = plot_texts(matrix.index)
    text = [[("" if not np.isfinite(v) else f"{v:.2f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=labels_x, y=labels_y, zmin=0, zmax=1, colorscale="Blues", text=text,
                               texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{z:.2f}<extra></extra>",
                               colorbar=dict(title="agree")))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, "", "", height=120 + 42 * max(1, len(labels_y)))

"""The Dataset map figure: one WebGL scatter (``go.Scattergl``) of a 2-D layout, coloured by duplicate group.

Two traces whatever the size of the set (images without duplicates in grey, images in groups in a repeating
qualitative palette), so 10,000 points stay one draw call each and the browser stays responsive. Each point's
``customdata`` is its row position, which the page reads back from a selection. Hover text is HTML-escaped: plotly
renders a subset of HTML in hover labels and names come from users.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.Dark24 + qualitative.Light24
LONE = "rgba(140,140,150,0.45)"


def map_figure(xy: np.ndarray, names: Sequence[str], group_ids: np.ndarray, *, title: str = "",
               selected: int | None = None, height: int = 640) -> go.Figure:
    """Scatter of ``xy`` (n, 2); ``group_ids`` (n,) int, 0 = in no duplicate group; ``selected`` row highlighted."""
    xy = np.asarray(xy, dtype=np.float32)
    g = np.asarray(group_ids, dtype=np.int64)
    labels = np.array([html.escape(str(n)) for n in names], dtype=object)
    pos = np.arange(len(xy))
    fig = go.Figure()
    lone = g == 0
    fig.add_trace(go.Scattergl(
        x=xy[lone, 0], y=xy[lone, 1], mode="markers", name="no duplicate", customdata=pos[lone],
        text=labels[lone], hovertemplate="%{text}<extra>no duplicate</extra>",
        marker=dict(size=5, color=LONE)))
    grouped = ~lone
    # a numeric colour per point through a stepped colour scale: plotly validates 10,000 numbers in microseconds
    # but 10,000 colour strings in over a second (on every re-run of the page)
    k = len(PALETTE)
    codes = ((g[grouped] - 1) % k).astype(np.int16)
    scale = [[edge, PALETTE[min(c, k - 1)]] for c in range(k) for edge in (c / k, (c + 1) / k)]
    fig.add_trace(go.Scattergl(
        x=xy[grouped, 0], y=xy[grouped, 1], mode="markers", name="in a duplicate group", customdata=pos[grouped],
        text=labels[grouped], hovertemplate="%{text}<extra>duplicate group</extra>",
        marker=dict(size=7, color=codes, colorscale=scale, cmin=-0.5, cmax=k - 0.5, showscale=False,
                    line=dict(width=0.5, color="white"))))
    if selected is not None and 0 <= selected < len(xy):
        fig.add_trace(go.Scattergl(x=[xy[selected, 0]], y=[xy[selected, 1]], mode="markers", name="selected",
                                   customdata=[selected], text=[labels[selected]],
                                   hovertemplate="%{text}<extra>selected</extra>",
                                   marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black"))))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                      legend=dict(orientation="h", y=1.02, x=0), dragmode="pan", clickmode="event+select")
    return fig


__all__ = ["map_figure"]

"""Chart builders: DataFrame in, plotly Figure out. No streamlit here.

* :mod:`core.charts.explore` — search / duplicates / compare / threshold-explorer charts (the dashboard's pages).
* ``core.charts.experiment_charts`` — the experiments and robustness-lab charts (imported directly, not re-exported here).
"""
from .explore import (agreement_heatmap, copies_bar, nearest_neighbour_histogram, pair_score_histogram,
                      prf_curve)

__all__ = ["agreement_heatmap", "copies_bar", "nearest_neighbour_histogram", "pair_score_histogram", "prf_curve"]

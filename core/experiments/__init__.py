"""The article's experiments as functions that return tidy pandas DataFrames and take a progress callback.

=================  ===========================================================================================
``accuracy``       Experiments 1/2 — :func:`speed_accuracy` (precision@3, mAP, pair F1, time per pair)
``sweep``          Experiment 2b — :func:`robustness_sweep` / :func:`robustness_summary` / :func:`breaking_points`
``lab``            the robustness lab (one image, one transform): :func:`transform_curve`, :func:`score_copies`
``scipy_numpy``    Experiment 3 — :func:`scipy_vs_numpy` / :func:`scipy_numpy_summary`
``cli``            :func:`run_cli_experiment`: ``python -m core experiment speed|robustness|scipy-numpy``
``progress``       the ``progress(done, total, message)`` callback type every runner takes
=================  ===========================================================================================

Every runner takes ``progress(done, total, message)`` (or None) and never imports streamlit.
"""

from __future__ import annotations

from .accuracy import SPEED_COLUMNS, SpeedAccuracy, speed_accuracy, time_all_pairs, time_reference_pairs, warm_up
from .cli import run_cli_experiment
from .lab import LAB_COLUMNS, encode_original, lab_strengths, score_copies, transform_curve
from .progress import Progress
from .scipy_numpy import (N_CALLS, SCIPY_NUMPY_COLUMNS, SCIPY_NUMPY_SUMMARY_COLUMNS, SCIPY_PIXEL_SIZE,
                          scipy_numpy_summary, scipy_vs_numpy)
from .sweep import (ROBUSTNESS_COLUMNS, ROBUSTNESS_SUMMARY_COLUMNS, SWEEP_IMAGES, SWEEP_MAX_SIDE, breaking_points,
                    demo_sweep_images, robustness_summary, robustness_sweep, shrink_to_side, sweep_images_from_dataset)


__all__ = [
    "LAB_COLUMNS", "N_CALLS", "ROBUSTNESS_COLUMNS", "ROBUSTNESS_SUMMARY_COLUMNS", "SCIPY_NUMPY_COLUMNS",
    "SCIPY_NUMPY_SUMMARY_COLUMNS", "SCIPY_PIXEL_SIZE", "SPEED_COLUMNS", "SWEEP_IMAGES", "SWEEP_MAX_SIDE", "Progress",
    "SpeedAccuracy", "breaking_points", "demo_sweep_images", "encode_original", "lab_strengths",
    "robustness_summary", "robustness_sweep", "run_cli_experiment", "score_copies", "scipy_numpy_summary",
    "scipy_vs_numpy", "shrink_to_side", "speed_accuracy", "sweep_images_from_dataset", "time_all_pairs",
    "time_reference_pairs", "transform_curve", "warm_up",
]

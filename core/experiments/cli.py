"""``python -m core experiment speed|robustness|scipy-numpy``: :func:`run_cli_experiment`."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..datasets import Dataset
from ..methods import Method
from .accuracy import speed_accuracy
from .progress import Progress
from .scipy_numpy import scipy_vs_numpy
from .sweep import robustness_sweep, sweep_images_from_dataset


def run_cli_experiment(kind: str, dataset: Dataset, methods: Sequence[Method], *, cache=True,
                       progress: Progress | None = None) -> pd.DataFrame:
    """Dispatch for ``python -m core experiment KIND``; returns the tidy DataFrame written to ``--out``.

    * ``speed``: :data:`core.experiments.accuracy.SPEED_COLUMNS`, one row per method (needs labels);
    * ``robustness``: :data:`core.experiments.sweep.ROBUSTNESS_COLUMNS` on the first image of each group (or the
      first images), at most :data:`core.experiments.sweep.SWEEP_IMAGES`, every transform at its default sweep
      strengths;
    * ``scipy-numpy``: :data:`core.experiments.scipy_numpy.SCIPY_NUMPY_COLUMNS`, on pixels, and on CNN features
      when a CNN method is among ``methods``.
    """
    if kind == "speed":
        if not getattr(dataset, "has_labels", True):
            raise ValueError("the speed experiment needs ground-truth labels (--labels consecutive:K|folders|csv:PATH)")
        return speed_accuracy(dataset, methods, cache=False, progress=progress).table
    if kind == "robustness":
        imgs, names, _ = sweep_images_from_dataset(dataset)
        return robustness_sweep(imgs, methods, names=names, progress=progress)
    if kind == "scipy-numpy":
        on = ["pixels"] + (["cnn"] if any(m.family == "cnn" for m in methods) else [])
        cnn = next((m.name for m in methods if m.family == "cnn"), "cnn-euclidean")
        return scipy_vs_numpy(dataset, on=on, cnn_method=cnn, progress=progress)
    raise ValueError(f"unknown experiment {kind!r}; valid: speed, robustness, scipy-numpy")

"""Every file accounted for, under a page's results: "N used + M skipped = K given", and each skipped file with
its reason."""
from __future__ import annotations

import streamlit as st

from core.datasets import Dataset
from core.encoding import Features

from .layout import lazy_expander


def show_skipped(dataset: Dataset, features: Features | None = None) -> None:
    """Account for every file: "N used + M skipped = K given", and an expander listing each skipped file + reason."""
    skipped = list(dataset.skipped) + (list(features.skipped) if features is not None else [])
    used = len(features) if features is not None else len(dataset.items)
    given = dataset.files_given or (len(dataset.items) + len(dataset.skipped))
    line = f"**{used}** images used + **{len(skipped)}** skipped = **{given}** files given"
    if used + len(skipped) != given:
        line += f" — {given - used - len(skipped)} unaccounted!"
    if dataset.incomplete:
        st.warning(f"Not all files were read: {dataset.incomplete}.", icon=":material/warning:")
    if not skipped:
        st.caption(line)
        return
    box = lazy_expander(line, key="skipped_open", icon=":material/checklist:")  # a closed list costs no data grid
    if box is None:
        return
    with box:
        import pandas as pd

        st.dataframe(pd.DataFrame({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]}),
                     hide_index=True, width="stretch")


__all__ = ["show_skipped"]

"""The explicit empty state: what a page shows instead of results when the visitor's own source has no usable image.

Never another source's images under the visitor's source (issue 11, item 3): a page that needs images calls
:func:`stop_without_images`, which says what is missing (nothing uploaded yet, a refused or missing folder, files
that are all unusable — each with its reason) and stops the page.
"""
from __future__ import annotations

from typing import Sequence

import streamlit as st


def skipped_table(skipped: Sequence, *, expanded: bool, label: str) -> None:
    """Every skipped file with its reason, in an expander."""
    if not skipped:
        return
    import pandas as pd

    with st.expander(label, expanded=expanded, icon=":material/checklist:"):
        df = pd.DataFrame({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]})
        if len(df) <= 50:  # plain text: readable, selectable, found by the browser's own search
            st.table(df.set_index("file"))
        else:
            st.dataframe(df, hide_index=True, width="stretch")


def explain(dataset, source: str, error: str | None, extra_skipped: Sequence = ()) -> None:
    """Render the empty state for ``source`` ("Upload images", "Folder path", ...) without stopping."""
    if error:
        st.error(error, icon=":material/error:")
    if dataset is None:
        if error:
            st.info("No results are shown until the images can be read. Fix the problem above in the sidebar, or "
                    "switch to **Demo data** to try the built-in photos.", icon=":material/info:")
        elif source == "Folder path":
            st.info("Type the path of a folder of photos in the sidebar to see results here.", icon=":material/folder:")
        elif source == "Saved index":
            st.info("Type the path of an index folder in the sidebar (built with `python -m core index build FOLDER "
                    "--methods ahash,cnn-cosine --out INDEX`) to see results here.", icon=":material/inventory_2:")
        else:
            st.info("No images yet: upload photos (or one .zip of them) in the sidebar to see results here, or switch "
                    "to **Demo data** to try the built-in photos.", icon=":material/upload:")
        return
    skipped = list(getattr(dataset, "skipped", [])) + list(extra_skipped)
    given = getattr(dataset, "files_given", 0) or (len(getattr(dataset, "items", [])) + len(skipped))
    st.warning(f"Your data has no usable image: none of the {given} file{'s' if given != 1 else ''} given could be "
               "read as an image, so there is nothing to compare. Each file and the reason it was skipped:",
               icon=":material/image_not_supported:")
    skipped_table(skipped, expanded=True, label=f"0 images used + {len(skipped)} skipped = {given} files given")


def stop_without_images(dataset, source: str, error: str | None, extra_skipped: Sequence = ()) -> None:
    """:func:`explain`, then stop the page (nothing below it runs)."""
    explain(dataset, source, error, extra_skipped)
    st.stop()


__all__ = ["explain", "skipped_table", "stop_without_images"]

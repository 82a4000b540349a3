"""The article's published numbers (Tables 1, 2 and 3), as data, for charts that show ours beside theirs.

Source: the guide this project implements ("Finding duplicate images: Euclidean distance, SSIM, image hashing,
cosine similarity and CNN features"), transcribed from its Tables 1-3 into this module. Hardware: a 2019
laptop CPU. Their times per pair *include encoding both images* (every pair decoded and encoded both files).

Two caveats, shown on the Experiments page wherever these numbers are:

* their Euclidean 0 % (Table 1) is most likely the uint8 wrap-around bug (``a - b`` on ``uint8`` arrays wraps
  around modulo 256); a correct float implementation does not reproduce it;
* their CNN rows used the un-pooled, un-normalised final feature maps of EfficientNet-B0 (1280 x 7 x 7); ours
  default to globally pooled features of EfficientNet-Lite0.
"""
from __future__ import annotations

import pandas as pd

#: Columns of :data:`ARTICLE_SPEED`.
ARTICLE_COLUMNS = ["table", "dataset", "images", "method", "accuracy", "seconds_per_pair"]

# (method name in our registry, accuracy %, seconds per pair incl. encoding)
_TABLE1 = [("euclidean", 0.0, 0.0002), ("ssim", 94.44, 0.0413), ("ahash", 90.28, 0.0005), ("cosine", 100.0, 0.001),
           ("cnn-euclidean", 98.61, 0.2513), ("cnn-cosine", 98.61, 0.2417)]
_TABLE2 = [("euclidean", 10.0, 0.0069), ("ssim", 13.33, 0.48), ("ahash", 23.33, 0.0022), ("cosine", 36.67, 0.0087),
           ("cnn-euclidean", 86.67, 0.76), ("cnn-cosine", 83.33, 0.7624)]

#: Dataset names of the two tables, as shown in chart legends.
TABLE_DATASETS = {1: "Fruits360", 2: "SFBench"}
TABLE_IMAGES = {1: 96, 2: 40}


def _frame(table: int, rows) -> pd.DataFrame:
    return pd.DataFrame([{"table": table, "dataset": TABLE_DATASETS[table], "images": TABLE_IMAGES[table],
                          "method": m, "accuracy": acc / 100.0, "seconds_per_pair": s} for m, acc, s in rows],
                        columns=ARTICLE_COLUMNS)


#: Tables 1 (Fruits360 subset, 96 images, 24 groups of 4) and 2 (SFBench, 40 images, 10 scenes x 4 shots).
#: ``accuracy`` is a fraction (precision@3), ``seconds_per_pair`` includes encoding both images.
ARTICLE_SPEED: pd.DataFrame = pd.concat([_frame(1, _TABLE1), _frame(2, _TABLE2)], ignore_index=True)

#: Table 3: CNN features compared by Euclidean distance, seconds per pair over ~2,300 comparisons.
ARTICLE_SCIPY_NUMPY = pd.DataFrame({"implementation": ["scipy", "numpy"], "seconds_per_pair": [0.2497, 0.2513],
                                    "calls": [2300, 2300]})

#: What each table is, in one line (chart captions).
TABLE_CAPTIONS = {
    1: "Table 1 — Fruits360 subset (96 images, 24 objects x 4 frames): consecutive frames of a rotating object.",
    2: "Table 2 — SFBench (40 images, 10 scenes x 4 phone shots, 3024x4032 shrunk 1/7): viewpoint, rotation, "
       "scale and 3-D projection changes.",
    3: "Table 3 — CNN features, Euclidean: scipy 0.2497 s vs numpy 0.2513 s per pair (~2,300 comparisons).",
}


def article_table(table: int) -> pd.DataFrame:
    """Rows of Table 1 or 2 (columns :data:`ARTICLE_COLUMNS`)."""
    if table not in TABLE_DATASETS:
        raise ValueError(f"the article has speed/accuracy tables 1 and 2, not {table!r}")
    return ARTICLE_SPEED[ARTICLE_SPEED["table"] == table].reset_index(drop=True)


__all__ = ["ARTICLE_COLUMNS", "ARTICLE_SCIPY_NUMPY", "ARTICLE_SPEED", "TABLE_CAPTIONS", "TABLE_DATASETS",
           "article_table"]

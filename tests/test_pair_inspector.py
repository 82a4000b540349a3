"""ui.pair_inspector's pure parts: the transform table and the drawing (no Streamlit run needed)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.invariance import invariant
from core.methods import get
from core.verification import verify_images
from ui.pair_inspector import TRANSFORM_NAMES, drawing, transform_scores


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)  # blocks: structure survives resizing
    return Image.fromarray(small).resize((320, 240), Image.Resampling.NEAREST)


@pytest.mark.parametrize("name", ["ahash", "dhash", "euclidean"])
def test_rotated_copy_is_closest_under_its_inverse_transform(photo, name):
    m = get(name)
    rotated = photo.transpose(Image.Transpose.ROTATE_90)
    table = transform_scores(invariant(m, "dihedral"), m.default_params(), _png(photo), _png(rotated))
    assert list(table["transform"]) == list(TRANSFORM_NAMES)
    best = table["score"].idxmax() if m.higher_is_closer else table["score"].idxmin()
    # b rotated by 90° counter-clockwise is undone by ROTATE_270 (row 3): exactly the identity's score
    assert best == 3 and table["transform"][3] == "rotated 270°"
    same = transform_scores(m, m.default_params(), _png(photo), _png(photo))["score"][0]
    assert table["score"][3] == pytest.approx(same, abs=1e-5)


def test_drawing_puts_both_images_side_by_side_with_the_inliers(photo):
    crop = photo.crop((40, 30, 280, 210))
    v = verify_images(photo, crop)
    assert v.points_a is not None and len(v.points_a) == v.inliers > 0
    canvas = drawing(photo, crop, v)
    assert canvas.size == (photo.width + 12 + crop.width, photo.height)
    plain = drawing(photo, crop, type(v)(inliers=0, verified=False))
    assert np.abs(np.asarray(canvas, np.int16) - np.asarray(plain, np.int16)).sum() > 0  # lines were drawn


def test_cli_command_carries_invariance_and_verify():
    from ui.cli_command import command

    m = get("ahash")
    plain = command("search", m, m.default_params(), 12, dataset="D", query="q.jpg")
    assert "--invariance" not in plain and "--verify" not in plain
    cmd = command("search", invariant(m, "dihedral"), m.default_params(), 12, dataset="D", query="q.jpg", verify=True)
    assert cmd.endswith("--invariance dihedral --verify") and "--method ahash" in cmd

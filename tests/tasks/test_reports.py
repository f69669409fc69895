"""Report plots are redrawn only when what they show changed; a saved PNG carries the digest of its inputs."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from tasks import store as st
from tasks.plots import plot_loss_curves, png_tag, tag_png
from tasks.reports import INPUTS_TAG, draw_once, inputs_digest

CURVES = {"gru v1": ([1.0, 0.5, 0.3], [1.1, 0.6, 0.4])}


def test_a_tagged_png_keeps_its_pixels_and_returns_its_tag():
    png = plot_loss_curves(CURVES, "mast")
    tagged = tag_png(png, "key", "abc123")
    assert png_tag(tagged, "key") == "abc123"
    assert png_tag(png, "key") is None and png_tag(b"not a png", "key") is None
    np.testing.assert_array_equal(imread(io.BytesIO(tagged)), imread(io.BytesIO(png)))
    with pytest.raises(ValueError, match=r"not a PNG \(starts with b'GIF89a"):
        tag_png(b"GIF89a" + bytes(20), "key", "x")


def test_digests_follow_the_values_not_the_objects():
    times = pd.date_range("2026-01-01", periods=4, freq="h", tz="UTC")
    speeds = pd.Series([5.0, np.nan, 6.5, 7.0], index=times)
    same = inputs_digest(speeds.copy(), times.copy(), {"a": [1.0, 2.0]}, "title", None)
    assert inputs_digest(speeds, times, {"a": [1.0, 2.0]}, "title", None) == same
    assert inputs_digest(speeds.where(speeds < 7, 7.1), times, {"a": [1.0, 2.0]}, "title", None) != same
    assert inputs_digest(speeds, times + pd.Timedelta("1h"), {"a": [1.0, 2.0]}, "title", None) != same
    assert inputs_digest(speeds, times, {"a": [1.0, 2.5]}, "title", None) != same
    with pytest.raises(TypeError, match="cannot digest a plot input of type DataFrame"):
        inputs_digest(speeds.to_frame())


def test_a_plot_is_drawn_once_per_inputs_and_saved_under_reports(tmp_path):
    store = st.Store(tmp_path)
    drawn = []

    def loss_plot(curves, title):  # the real plot, counting its draws
        drawn.append(title)
        return plot_loss_curves(curves, title)

    first = draw_once(store, "mast", "loss.png", loss_plot, CURVES, "mast: loss")
    again = draw_once(store, "mast", "loss.png", loss_plot, CURVES, "mast: loss")
    assert again == first and drawn == ["mast: loss"]
    saved = tmp_path / "reports" / "mast" / "loss.png"
    assert saved.read_bytes() == first and png_tag(first, INPUTS_TAG)
    longer = {"gru v1": ([1.0, 0.5, 0.3, 0.2], [1.1, 0.6, 0.4, 0.35])}
    assert draw_once(store, "mast", "loss.png", loss_plot, longer, "mast: loss") != first
    assert len(drawn) == 2
    saved.write_bytes(plot_loss_curves(CURVES, "mast: loss"))  # an untagged (older) file is redrawn
    draw_once(store, "mast", "loss.png", loss_plot, CURVES, "mast: loss")
    assert len(drawn) == 3 and png_tag(saved.read_bytes(), INPUTS_TAG)

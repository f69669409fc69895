"""Plots are PNGs, safe to draw from several Prefect task threads at once."""

from concurrent.futures import ThreadPoolExecutor

from tasks.plots import data_uri, plot_loss_curves


def test_plots_from_many_threads_are_all_valid_pngs():
    curves = {"gru": ([1.0, 0.5, 0.3, 0.25], [1.1, 0.6, 0.4, 0.41])}  # log axis: mathtext tick labels
    with ThreadPoolExecutor(max_workers=6) as pool:
        pngs = list(pool.map(lambda i: plot_loss_curves(curves, f"station {i}"), range(12)))
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5000 for p in pngs)
    assert data_uri(pngs[0]).startswith("data:image/png;base64,iVBORw0KGgo")


def test_the_forecast_plot_draws_the_p10_p90_band():
    import io

    import numpy as np
    import pandas as pd
    from matplotlib.image import imread

    from tasks.plots import plot_forecast

    hist = pd.date_range("2024-01-01", periods=72, freq="h", tz="UTC")
    fut = pd.date_range(hist[-1] + pd.Timedelta("1h"), periods=24, freq="h")
    point = np.full(24, 6.0)

    def light_blue_pixels(png: bytes) -> int:
        rgb = imread(io.BytesIO(png))[..., :3]
        band = np.array([0.75, 0.84, 0.92])  # C0 at alpha 0.25 over white
        return int((np.abs(rgb - band).max(axis=-1) < 0.06).sum())

    without = plot_forecast(hist, np.full(72, 5.0), fut, point)
    with_band = plot_forecast(hist, np.full(72, 5.0), fut, point, p10=point - 2, p90=point + 3)
    assert light_blue_pixels(with_band) > light_blue_pixels(without) + 2000

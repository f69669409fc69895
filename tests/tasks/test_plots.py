"""Plots are PNGs, safe to draw from several Prefect task threads at once."""

from concurrent.futures import ThreadPoolExecutor

from tasks.plots import data_uri, plot_loss_curves


def test_plots_from_many_threads_are_all_valid_pngs():
    curves = {"gru": ([1.0, 0.5, 0.3, 0.25], [1.1, 0.6, 0.4, 0.41])}  # log axis: mathtext tick labels
    with ThreadPoolExecutor(max_workers=6) as pool:
        pngs = list(pool.map(lambda i: plot_loss_curves(curves, f"station {i}"), range(12)))
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5000 for p in pngs)
    assert data_uri(pngs[0]).startswith("data:image/png;base64,iVBORw0KGgo")

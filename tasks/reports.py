"""The per-station markdown report: forecast, skill by lead, training loss and data quality, plots embedded.

Every plot is also saved under ``reports/<station>/`` in the data directory, tagged with a digest of what it
was drawn from: the hourly run redraws a plot only when its inputs changed (the skill and loss plots change when a
backtest or training ran, the others when the station's data did), and otherwise reuses the saved PNG.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from tasks import plots, registry
from tasks import store as st
from tasks.forecasting import StationForecast
from tasks.plots import (
    markdown_image,
    plot_data_quality,
    plot_forecast,
    plot_loss_curves,
    plot_rmse_and_skill,
)
from windcast.config import PipelineConfig

HISTORY_HOURS = 72
INPUTS_TAG = "windcast-plot-inputs"  # the PNG text chunk that holds the digest of a saved plot's inputs


@functools.cache
def _drawing_code() -> str:
    """What decides how a plot looks besides its inputs: the plot module's source, sizes, matplotlib's version
    (an edit of tasks/plots.py redraws every saved plot)."""
    source = hashlib.sha256(Path(plots.__file__).read_bytes()).hexdigest()
    return f"{source}|{plots.FIGSIZE}|{plots.DPI}|{matplotlib.__version__}"


def inputs_digest(*parts) -> str:
    """A digest of plot inputs (pandas Series/Index, numeric arrays, mappings and sequences of them, scalars):
    equal inputs give equal digests."""
    h = hashlib.sha256(_drawing_code().encode())
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def _feed(h, part) -> None:
    if isinstance(part, pd.Series | pd.Index):
        h.update(f"{type(part).__name__}|{part.dtype}|{len(part)}|".encode())
        h.update(pd.util.hash_pandas_object(part, index=isinstance(part, pd.Series)).to_numpy().tobytes())
    elif isinstance(part, np.ndarray) and part.dtype != object:
        h.update(f"ndarray|{part.dtype.str}|{part.shape}|".encode() + np.ascontiguousarray(part).tobytes())
    elif isinstance(part, dict):
        h.update(f"dict|{len(part)}|".encode())
        for key, value in part.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(part, list | tuple):
        h.update(f"{type(part).__name__}|{len(part)}|".encode())
        for value in part:
            _feed(h, value)
    elif part is None or isinstance(part, str | int | float | bool | np.generic | pd.Timestamp):
        h.update(f"{type(part).__name__}|{part!r}".encode())
    else:
        raise TypeError(f"cannot digest a plot input of type {type(part).__name__}")
    h.update(b"\0")


def draw_once(store: st.Store, station_id: str, name: str, plot: Callable[..., bytes], *args, **kwargs) -> bytes:
    """``plot(*args, **kwargs)`` saved as ``reports/<station>/<name>``; the saved PNG when it was drawn from the
    same inputs (its text chunk holds their digest; one file, replaced atomically, so tag and pixels agree)."""
    path = store.station_dir(store.root / "reports", station_id, hive=False) / name
    digest = inputs_digest(plot.__name__, args, kwargs)
    try:
        saved = path.read_bytes()
    except FileNotFoundError:
        saved = b""
    if plots.png_tag(saved, INPUTS_TAG) == digest:
        return saved
    png = plots.tag_png(plot(*args, **kwargs), INPUTS_TAG, digest)
    st.atomic_write_bytes(path, png)
    return png


def latest_metrics(store: st.Store, station_id: str) -> pd.DataFrame:
    """The metrics rows of the station's most recent backtest run (empty before the first)."""
    root = store.station_dir(store.root / "metrics", station_id)
    if not root.exists():
        return pd.DataFrame()
    frame = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    frame["run_id"] = frame["run_id"].astype(str)
    return frame[frame["run_id"] == frame["run_id"].max()]


def forecast_plot(store: st.Store, result: StationForecast) -> bytes:
    """Observations of the last days before the origin, with the forecast and its interval."""
    measurements = st.read_measurements(store, result.station_id)
    origin = result.rows["origin_time"].iloc[0]
    recent = measurements[measurements["time"] > origin - pd.Timedelta(hours=HISTORY_HOURS)]
    recent = recent[recent["time"] <= origin].set_index("time")["wind_speed_ms"]
    grid = pd.date_range(origin - pd.Timedelta(hours=HISTORY_HOURS - 1), origin, freq="1h")
    recent = recent.reindex(grid)  # gaps stay gaps in the plot too
    rows = result.rows
    has_interval = rows["p10"].notna().all() and rows["p90"].notna().all()
    stale = " (STALE)" if result.stale else ""
    model = f"{rows['model'].iloc[0]} v{rows['model_version'].iloc[0]}"
    title = f"{result.station_id}: {model} from {origin:%Y-%m-%d %H:%M} UTC{stale}"
    return draw_once(
        store, result.station_id, "forecast.png", plot_forecast,
        recent.index, recent.to_numpy(), rows["target_time"], rows["wind_speed_ms"],
        rows["p10"] if has_interval else None, rows["p90"] if has_interval else None, title,
    )  # fmt: skip


def skill_plot(store: st.Store, metrics: pd.DataFrame, station_id: str) -> bytes | None:
    """RMSE and skill by lead of every model of the latest backtest."""
    if metrics.empty:
        return None
    per_lead = metrics[metrics["horizon_h"] > 0].sort_values("horizon_h")
    label = per_lead["model"] + " v" + per_lead["model_version"].astype(str)

    def curves(metric: str) -> dict[str, list[float]]:
        rows = per_lead[per_lead["metric"] == metric]
        return {m: g["value"].tolist() for m, g in rows.groupby(label[rows.index], sort=False)}

    title = f"{station_id}: latest backtest"
    return draw_once(store, station_id, "skill.png", plot_rmse_and_skill, curves("rmse"), curves("skill"), title)


def loss_plot(store: st.Store, station_id: str, kinds: list[str]) -> bytes | None:
    """Loss curves of the newest version of every network kind."""
    curves = {}
    for kind in kinds:
        versions = registry.list_versions(store, station_id, kind)
        if versions:
            meta = registry.read_meta(versions[-1])
            if meta.get("train_loss"):
                curves[versions[-1].label] = (meta["train_loss"], meta["val_loss"])
    if not curves:
        return None
    return draw_once(store, station_id, "loss.png", plot_loss_curves, curves, f"{station_id}: training loss")


def quality_plot(store: st.Store, station_id: str, freq: str) -> bytes:
    """Coverage per day and quarantined rows by reason."""
    measurements = st.read_measurements(store, station_id)
    per_day = measurements.set_index("time")["wind_speed_ms"].resample("1D").count()
    expected = pd.Timedelta("1D") / pd.Timedelta(freq)
    quarantine = st.read_quarantine(store, station_id)
    by_reason = quarantine.groupby("reason")["n_samples"].apply(lambda s: int(s.fillna(1).sum())).to_dict()
    title = f"{station_id}: data quality"
    return draw_once(store, station_id, "quality.png", plot_data_quality, per_day / expected, by_reason, title)


def forecast_report(config: PipelineConfig, result: StationForecast) -> str:
    """Markdown with the forecast, skill, loss and quality plots embedded as data: URIs."""
    store = st.Store(config.data_dir)
    sid = result.station_id
    rows = result.rows
    metrics = latest_metrics(store, sid)
    lines = [f"# windcast: {sid}", ""]
    if result.stale:
        lines += [f"> **STALE forecast:** {result.stale_reason}", ""]
    if result.nwp_note:
        lines += [f"> **Without NWP:** {result.nwp_note}", ""]
    elif pd.notna(rows["nwp_issued_at"].iloc[0]):
        lines += [f"Weather-model input: the issue of {rows['nwp_issued_at'].iloc[0]:%Y-%m-%d %H:%M} UTC.", ""]
    lines += [
        f"Issued {rows['issued_at'].iloc[0]:%Y-%m-%d %H:%M} UTC by **{rows['model'].iloc[0]} "
        f"v{rows['model_version'].iloc[0]}** from the origin {rows['origin_time'].iloc[0]:%Y-%m-%d %H:%M} UTC; "
        f"Parquet: `{result.path}`.",
        "",
        markdown_image(forecast_plot(store, result), "forecast"),
        "",
    ]
    sections = [
        ("Backtest: RMSE and skill by lead time", "skill", skill_plot(store, metrics, sid)),
        ("Training loss", "loss curves", loss_plot(store, sid, list(config.training.kinds))),
        ("Data quality", "data quality", quality_plot(store, sid, config.frequency)),
    ]
    for title, alt, png in sections:
        if png is not None:  # no backtest or no trained network yet: no section
            lines += [f"## {title}", "", markdown_image(png, alt), ""]
    return "\n".join(lines)

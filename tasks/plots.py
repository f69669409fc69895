"""Small headless PNG plots (matplotlib Agg) and their data-URI form for Prefect markdown artifacts."""

from __future__ import annotations

import base64
import functools
import io
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

FIGSIZE = (7.0, 3.2)
DPI = 90
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(PNG_SIGNATURE) + 4 + 4 + 13 + 4  # length, type, 13 bytes of header, CRC


# Matplotlib is not thread-safe (its text parser is shared), and Prefect runs tasks in threads: one plot at a
# time. Figures are made without pyplot, so no global figure registry is involved either.
_LOCK = threading.Lock()


def _serialised(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return func(*args, **kwargs)

    return wrapper


def _subplots(**kwargs):
    fig = Figure(figsize=kwargs.pop("figsize", FIGSIZE))
    return fig, fig.subplots(**kwargs)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def tag_png(png: bytes, keyword: str, text: str) -> bytes:
    """The PNG with a tEXt chunk ``keyword: text`` (Latin-1) right after its header; the pixels are unchanged."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError(f"not a PNG (starts with {png[:16]!r})")
    data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:_IHDR_END] + chunk + png[_IHDR_END:]


def png_tag(png: bytes, keyword: str) -> str | None:
    """The text of the PNG's tEXt chunk ``keyword`` (None when it has none, or is no PNG)."""
    if not png.startswith(PNG_SIGNATURE):
        return None
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        if kind == b"IDAT":  # text chunks that matter come before the pixels
            return None
        name, _, text = data.partition(b"\0")
        if kind == b"tEXt" and name == keyword.encode("latin-1"):
            return text.decode("latin-1")
        at += 12 + length
    return None


def data_uri(png: bytes) -> str:
    """A PNG as ``data:image/png;base64,...`` (the Prefect UI renders it inside markdown)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that embeds the PNG."""
    return f"![{alt}]({data_uri(png)})"


@_serialised
def plot_loss_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str) -> bytes:
    """Training and validation loss per epoch, one pair of lines per curve name."""
    fig, ax = _subplots()
    for i, (name, (train, val)) in enumerate(curves.items()):
        color = f"C{i}"
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, color=color, linestyle="--", label=f"{name} train")
        ax.plot(epochs, val, color=color, label=f"{name} validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (scaled)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


@_serialised
def plot_rmse_and_skill(
    rmse_by_lead: Mapping[str, Sequence[float]], skill_by_lead: Mapping[str, Sequence[float]], title: str
) -> bytes:
    """RMSE (left) and skill against persistence (right) by lead time, one line per model."""
    fig, (left, right) = _subplots(nrows=1, ncols=2, figsize=(9.0, 3.4))
    names = sorted(set(rmse_by_lead) | set(skill_by_lead))  # one colour per model in both panels
    for name, values in rmse_by_lead.items():
        left.plot(range(1, len(values) + 1), values, color=f"C{names.index(name)}", label=name)
    for name, values in skill_by_lead.items():
        right.plot(range(1, len(values) + 1), values, color=f"C{names.index(name)}", label=name)
    right.axhline(0, color="black", linewidth=0.8)
    left.set_xlabel("lead time (h)")
    left.set_ylabel("RMSE (m/s)")
    right.set_xlabel("lead time (h)")
    right.set_ylabel("skill vs persistence")
    right.set_ylim(bottom=max(-1.0, right.get_ylim()[0]))
    left.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


@_serialised
def plot_forecast(history_times, history_ms, forecast_times, forecast_ms, p10=None, p90=None, title: str = "") -> bytes:
    """Recent observations, the forecast and (when present) its P10-P90 interval."""
    fig, ax = _subplots()
    ax.plot(history_times, history_ms, color="black", linewidth=1.2, label="observed")
    ax.plot(forecast_times, forecast_ms, color="C0", linewidth=1.8, label="forecast")
    if p10 is not None and p90 is not None:
        ax.fill_between(forecast_times, p10, p90, color="C0", alpha=0.25, label="P10-P90")
    ax.set_ylabel("wind speed (m/s)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


@_serialised
def plot_data_quality(coverage_by_day, quarantined_by_reason: Mapping[str, int], title: str) -> bytes:
    """Share of expected intervals present per day (left) and quarantined rows by reason (right)."""
    fig, (left, right) = _subplots(nrows=1, ncols=2, figsize=(9.0, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    left.plot(coverage_by_day.index, 100 * coverage_by_day.to_numpy(), color="C2", linewidth=0.8)
    left.set_ylabel("coverage per day (%)")
    left.set_ylim(0, 105)
    left.grid(alpha=0.3)
    reasons = list(quarantined_by_reason) or ["none"]
    counts = [quarantined_by_reason.get(r, 0) for r in reasons]
    right.barh(reasons, counts, color="C3")
    right.set_xlabel("quarantined rows")
    right.tick_params(axis="y", labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.autofmt_xdate()
    return _png(fig)

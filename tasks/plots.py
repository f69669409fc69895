"""Small headless PNG plots (matplotlib Agg) and their data-URI form for Prefect markdown artifacts."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGSIZE = (7.0, 3.2)
DPI = 90


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as ``data:image/png;base64,...`` (the Prefect UI renders it inside markdown)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that embeds the PNG."""
    return f"![{alt}]({data_uri(png)})"


def plot_loss_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str) -> bytes:
    """Training and validation loss per epoch, one pair of lines per curve name."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
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


def plot_rmse_and_skill(rmse_by_lead: Mapping[str, Sequence[float]], skill_by_lead: Mapping[str, Sequence[float]],
                        title: str) -> bytes:
    """RMSE (left) and skill against persistence (right) by lead time, one line per model."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    for i, (name, values) in enumerate(rmse_by_lead.items()):
        left.plot(range(1, len(values) + 1), values, color=f"C{i}", label=name)
    for i, (name, values) in enumerate(skill_by_lead.items()):
        right.plot(range(1, len(values) + 1), values, color=f"C{i}", label=name)
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

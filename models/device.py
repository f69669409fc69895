"""Pick the torch device and numeric precision for training: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(requested: str = "auto") -> torch.device:
    """The requested device, or with "auto" the best available one (CUDA > MPS > CPU)."""
    name = requested.split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"device {requested!r} is not one of {DEVICES} (optionally with an index, e.g. 'cuda:1')")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was requested but CUDA is not available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} was requested but Apple MPS is not available")
    return torch.device(requested)


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """Whether to train under bf16 autocast: "auto" means on CUDA with bf16 support only.

    On CPUs without native bf16 matmul (AVX2 only) bf16 is hundreds of times slower, and oneDNN's LSTM
    rejects it, so "auto" keeps float32 there; "bf16" forces it anyway.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def configure_backend(device: torch.device, num_threads: int | None = None) -> None:
    """Enable cuDNN autotuning on CUDA; set the CPU thread count when given."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)

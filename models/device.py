"""Pick the torch device and numeric precision for training: CUDA, then Apple MPS, then CPU.

Precision "auto" trains under bf16 autocast where bf16 matmuls run natively: on CUDA with bf16 support, and on
CPUs whose flags show AMX-BF16 or AVX512-BF16 (x86) or BF16 (Arm). Elsewhere (e.g. AVX2 only) bf16 is emulated,
about 100x slower than float32, and oneDNN's LSTM refuses it, so "auto" keeps float32 there. Where the flags
cannot be read (no /proc/cpuinfo), a one-off matmul timing decides.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "fp32", "bf16")
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")  # x86 AMX, x86 AVX512-BF16, Arm BF16 (aarch64 "Features")
CPUINFO = Path("/proc/cpuinfo")


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


def read_cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo ("flags" on x86, "Features" on Arm); None where unreadable."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def native_bf16_flags(flags: frozenset[str] | None) -> list[str] | None:
    """The flags that give native bf16 matmuls (possibly []); None when the flags are unknown."""
    if flags is None:
        return None
    return [f for f in NATIVE_BF16_FLAGS if f in flags]


@functools.cache
def bf16_matmul_is_fast(n: int = 256, reps: int = 20) -> bool:
    """One-off timing: True when a bf16 n x n matmul takes no longer than the float32 one (native support)."""

    def best_s(dtype: torch.dtype) -> float:
        a = torch.randn(n, n).to(dtype)
        a @ a  # warm-up (oneDNN primitive creation)
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - t0)
        return best

    return best_s(torch.bfloat16) <= best_s(torch.float32)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively: from its flags, or from a matmul timing where flags are unknown."""
    found = native_bf16_flags(read_cpu_flags())
    if found is None:
        return bf16_matmul_is_fast()
    return bool(found)


def use_bf16(device: torch.device, precision: str = "auto") -> bool:
    """Whether to run under bf16 autocast: "auto" means on CUDA with bf16 support or a CPU with native bf16."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()


def use_bf16_inference(device: torch.device, precision: str = "auto") -> bool:
    """Whether to forecast under bf16 autocast: "auto" means on CUDA with bf16 support only.

    On the AMX Xeon the small default networks forecast 0.65-0.8x as fast under bf16 autocast as in float32
    (the per-step casts outweigh the cheaper matmuls; training gains because backward's matmuls dominate), so
    CPU forecasts stay float32, which also keeps them identical from one CPU to another.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def describe_precision(device: torch.device, precision: str = "auto") -> str:
    """One line naming the precision chosen and what decided it, for logs and benchmarks."""
    chosen = "bf16" if use_bf16(device, precision) else "fp32"
    if precision != "auto":
        return f"{chosen} (precision={precision!r} requested)"
    if device.type == "cuda":
        return f"{chosen} (CUDA {'with' if chosen == 'bf16' else 'without'} bf16 support)"
    if device.type != "cpu":
        return f"{chosen} ({device.type}: float32)"
    found = native_bf16_flags(read_cpu_flags())
    if found is None:
        return f"{chosen} (CPU flags unreadable; bf16 matmul timing {'fast' if chosen == 'bf16' else 'slow'})"
    return f"{chosen} (CPU flags: {' '.join(found) or 'no amx_bf16/avx512_bf16/bf16'})"


def configure_backend(device: torch.device, num_threads: int | None = None) -> None:
    """Enable cuDNN autotuning on CUDA; set the CPU thread count when given."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        torch.set_num_threads(num_threads)

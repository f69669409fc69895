"""Precision chosen from the hardware: CPU flags, the timing fallback, and what `auto` trains and predicts in."""

from pathlib import Path

import numpy as np
import pytest
import torch

from models import device as dev
from models.training import ForecasterConfig, fit_forecaster, predict
from tests.models.test_training import FAST, wind_frame

X86_AMX = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
X86_AVX2 = "flags\t\t: fpu sse2 avx2 fma\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"
HAS_NATIVE_BF16 = bool(dev.native_bf16_flags(dev.read_cpu_flags()) or [])


@pytest.fixture(autouse=True)
def fresh_detection():
    """Detection is cached per process; tests that stub it must not leak into others."""
    dev.cpu_has_native_bf16.cache_clear()
    yield
    dev.cpu_has_native_bf16.cache_clear()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: test\n" + text)
    return path


def test_cpu_flags_are_read_from_x86_and_arm_cpuinfo(tmp_path):
    assert dev.native_bf16_flags(dev.read_cpu_flags(write(tmp_path, X86_AMX))) == ["amx_bf16", "avx512_bf16"]
    assert dev.native_bf16_flags(dev.read_cpu_flags(write(tmp_path, X86_AVX2))) == []
    assert dev.native_bf16_flags(dev.read_cpu_flags(write(tmp_path, ARM_BF16))) == ["bf16"]
    assert dev.read_cpu_flags(tmp_path / "missing") is None
    assert dev.native_bf16_flags(None) is None


def test_explicit_precisions_and_bad_values():
    cpu = torch.device("cpu")
    assert dev.use_bf16(cpu, "bf16") and not dev.use_bf16(cpu, "fp32")
    assert dev.use_bf16_inference(cpu, "bf16") and not dev.use_bf16_inference(cpu, "auto")
    with pytest.raises(ValueError, match=r"precision 'fp16' is not one of \('auto', 'fp32', 'bf16'\)"):
        dev.use_bf16(cpu, "fp16")
    assert dev.describe_precision(cpu, "fp32") == "fp32 (precision='fp32' requested)"


def test_auto_follows_this_machines_flags():
    cpu = torch.device("cpu")
    assert dev.use_bf16(cpu) == HAS_NATIVE_BF16
    expected = "bf16 (CPU flags: " if HAS_NATIVE_BF16 else "fp32 (CPU flags: "
    assert dev.describe_precision(cpu).startswith(expected)


@pytest.mark.parametrize("native", [True, False])
def test_auto_trains_and_predicts_in_the_native_precision(native, monkeypatch):
    """`auto` trains exactly the bf16 fit where the CPU has native bf16 and the fp32 fit where it has not.

    The branch this machine has runs on the real detection; only the other branch is stubbed.
    """
    if native != HAS_NATIVE_BF16:
        flags = frozenset({"avx2", "amx_bf16"} if native else {"avx2"})
        monkeypatch.setattr(dev, "read_cpu_flags", lambda cpuinfo=dev.CPUINFO: flags)
    frame = wind_frame(900)
    config = {**FAST, "max_epochs": 2}
    fits = {p: fit_forecaster({"a": frame}, ForecasterConfig(**config, precision=p)) for p in ("auto", "fp32", "bf16")}
    losses = {p: f.history_frame()["train_loss"] for p, f in fits.items()}  # validation runs in the forecast precision
    same, other = ("bf16", "fp32") if native else ("fp32", "bf16")
    assert losses["auto"].equals(losses[same])
    assert not losses["auto"].equals(losses[other])
    origins = frame["time"].iloc[[200, 500, 800]]
    auto = predict(fits["auto"].forecaster, frame, origins)  # CPU forecasts stay float32 either way
    np.testing.assert_array_equal(auto, predict(fits["auto"].forecaster, frame, origins, precision="fp32"))
    assert not np.array_equal(auto, predict(fits["auto"].forecaster, frame, origins, precision="bf16"))


@pytest.mark.parametrize("fast", [True, False])
def test_unreadable_flags_fall_back_to_a_matmul_timing(fast, monkeypatch):
    monkeypatch.setattr(dev, "read_cpu_flags", lambda cpuinfo=dev.CPUINFO: None)
    monkeypatch.setattr(dev, "bf16_matmul_is_fast", lambda: fast)
    assert dev.use_bf16(torch.device("cpu")) is fast
    assert dev.describe_precision(torch.device("cpu")) == (
        f"{'bf16' if fast else 'fp32'} (CPU flags unreadable; bf16 matmul timing {'fast' if fast else 'slow'})"
    )

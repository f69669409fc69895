"""NWP alignment by issue time, the nwp/nwp_mos baselines, and a network that reads NWP at the target hours."""

import numpy as np
import pandas as pd
import pytest
import torch

from models.checkpoint import load_checkpoint, save_fit
from models.networks import NetworkConfig, RecurrentForecaster
from models.nwp import (
    AlignedNwp,
    align_nwp,
    fit_nwp_mos,
    nwp_forecast,
    nwp_mos_forecast,
    refuse_future_issues,
)
from models.training import ForecasterConfig, fit_forecaster, predict
from tests.models.test_training import FAST, wind_frame


def issues_frame(issue_times, max_lead: int, value=lambda issue_i, lead: 100 * issue_i + lead) -> pd.DataFrame:
    rows = [
        (t, t + pd.Timedelta(hours=lead), float(value(i, lead)), 90.0)
        for i, t in enumerate(pd.DatetimeIndex(issue_times, tz="UTC"))
        for lead in range(-2, max_lead + 1)
    ]
    return pd.DataFrame(rows, columns=["issued_at", "valid_time", "wind_speed_10m_ms", "wind_dir_10m_deg"])


def test_each_origin_reads_the_latest_issue_at_or_before_it_with_its_true_leads():
    nwp = issues_frame(["2024-01-01 00:00", "2024-01-01 12:00"], max_lead=24)
    origins = pd.DatetimeIndex(
        ["2023-12-31 23:00", "2024-01-01 00:00", "2024-01-01 11:00", "2024-01-01 12:00", "2024-01-02 10:00"], tz="UTC"
    )
    a = align_nwp(nwp, origins, horizon_steps=3)
    expected = [
        [np.nan] * 3,  # before the first issue: nothing
        [1, 2, 3],  # issue 00:00 at its own time, leads 1..3
        [12, 13, 14],  # 11 h later still issue 00:00 (leads 12..14), never the 12:00 one
        [101, 102, 103],
        [123, 124, np.nan],  # issue 12:00 ends at lead 24 (2024-01-02 12:00): no older issue fills the gap
    ]
    np.testing.assert_array_equal(a.values[..., 0], np.array(expected, dtype=float))
    assert list(a.issued_at.strftime("%d %H").fillna("-")) == ["-", "01 00", "01 00", "01 12", "01 12"]
    np.testing.assert_array_equal(a.lead_hours[2], [12, 13, 14])
    assert a.complete.tolist() == [False, True, True, True, False]
    refuse_future_issues(a, origins)  # the alignment itself never uses a later issue


def test_alignment_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    issued = pd.date_range("2024-03-01", periods=12, freq="6h", tz="UTC")
    nwp = issues_frame(issued, max_lead=30, value=lambda i, lead: rng.normal(8, 2))
    origins = pd.date_range("2024-03-01 01:00", periods=70, freq="1h", tz="UTC")
    got = align_nwp(nwp, origins, horizon_steps=8).values[..., 0]
    for n, t in enumerate(origins):
        issue = max(i for i in issued if i <= t)
        for h in range(1, 9):
            hit = nwp[(nwp["issued_at"] == issue) & (nwp["valid_time"] == t + pd.Timedelta(hours=h))]
            want = hit["wind_speed_10m_ms"].iloc[0] if len(hit) else np.nan
            np.testing.assert_equal(got[n, h - 1], want)


def test_nwp_mos_recovers_a_per_lead_linear_relation():
    nwp = issues_frame(pd.date_range("2024-01-01", periods=40, freq="12h", tz="UTC"), max_lead=24,
                       value=lambda i, lead: (i * 7 + lead * 3) % 11)  # fmt: skip
    origins = pd.DatetimeIndex(sorted(set(nwp["issued_at"])))
    a = align_nwp(nwp, origins, horizon_steps=4)
    y = 0.5 + np.array([1.0, 0.9, 0.8, 0.7])[None, :] * a.values[..., 0]
    params = fit_nwp_mos(a, y)
    np.testing.assert_allclose(params["slope"], [1.0, 0.9, 0.8, 0.7], atol=1e-3)
    np.testing.assert_allclose(nwp_mos_forecast(a, params), y, atol=1e-2)
    np.testing.assert_array_equal(nwp_forecast(a), a.values[..., 0])


def test_untrained_nwp_head_starts_at_the_baseline_and_needs_its_input():
    torch.manual_seed(0)
    plain = RecurrentForecaster(NetworkConfig(n_features=3, hidden_size=8, horizon_steps=5))
    torch.manual_seed(0)
    fed = RecurrentForecaster(NetworkConfig(n_features=3, hidden_size=8, horizon_steps=5, n_future=3))
    x, f = torch.randn(4, 30, 3), torch.randn(4, 5, 3)
    torch.testing.assert_close(fed(x, f), plain(x))  # zero-initialised: NWP changes nothing before training
    with pytest.raises(ValueError, match=r"this network needs future inputs \(B, 5, 3\), got None"):
        fed(x)
    with pytest.raises(ValueError, match=r"n_future 2 must be >= 0, and 0 for an autoregressive network"):
        NetworkConfig(n_future=2, autoregressive=True)


@pytest.fixture(scope="module")
def nwp_fit():
    frame = wind_frame(900)
    truth = frame.set_index("time")["wind_speed_ms"]
    issued = pd.date_range(frame["time"].iloc[0], frame["time"].iloc[-1], freq="12h")
    rng = np.random.default_rng(1)
    rows = []
    for t in issued:
        valid = pd.date_range(t + pd.Timedelta(hours=1), periods=18, freq="1h")
        speed = truth.reindex(valid).fillna(6.0).to_numpy() + rng.normal(0, 0.5, len(valid))
        rows.append(pd.DataFrame({"issued_at": t, "valid_time": valid, "wind_speed_10m_ms": speed,
                                  "wind_dir_10m_deg": 180.0}))  # fmt: skip
    nwp = pd.concat(rows, ignore_index=True)
    fit = fit_forecaster({"a": frame}, ForecasterConfig(**FAST), nwp={"a": nwp})
    return frame, nwp, fit


def test_a_network_fed_nwp_issued_after_its_origin_is_refused(nwp_fit):
    frame, nwp, fit = nwp_fit
    origins = frame["time"].iloc[[600, 610]]
    honest = align_nwp(nwp, origins, FAST["horizon_steps"])
    np.testing.assert_array_equal(
        predict(fit.forecaster, frame, origins, nwp=honest), predict(fit.forecaster, frame, origins, nwp=nwp)
    )
    # NWP aligned as if from 12 h later (the next issue, which already saw the targets' weather)
    later = align_nwp(nwp, pd.DatetimeIndex(origins) + pd.Timedelta(hours=12), FAST["horizon_steps"])
    leaked = AlignedNwp(honest.origin_times, later.issued_at, later.values)
    with pytest.raises(ValueError, match=r"NWP issued at .* is after origin .*: a forecast may only use NWP issued "
                                         r"at or before its origin"):  # fmt: skip
        predict(fit.forecaster, frame, origins, nwp=leaked)
    with pytest.raises(ValueError, match="this forecaster reads NWP at the target hours: pass the station's nwp"):
        predict(fit.forecaster, frame, origins)


def test_nwp_forecaster_checkpoint_round_trip(nwp_fit, tmp_path):
    frame, nwp, fit = nwp_fit
    assert fit.forecaster.uses_nwp and fit.n_windows["train"] > 0
    origins = frame["time"].iloc[[600, 700]]
    loaded, _ = load_checkpoint(save_fit(tmp_path / "m.pt", fit))
    np.testing.assert_allclose(
        predict(loaded, frame, origins, nwp=nwp), predict(fit.forecaster, frame, origins, nwp=nwp), rtol=1e-6
    )

"""Backtest core: grid, splits, origin selection with gaps, batched scoring, and the promotion gate."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.backtest import (
    FORECAST_COLUMNS,
    Decision,
    best_model,
    decide_promotion,
    refit_blocks,
    run_backtest,
    select_origins,
    split_origins,
    to_hourly_grid,
)
from models.baselines import persistence_forecast
from models.metrics import metrics_table
from models.windows import make_cutoffs

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")


def _frame(hours, speeds):
    return pd.DataFrame(
        {
            "time": (T0 + pd.to_timedelta(hours, unit="h")).as_unit("us"),
            "wind_speed_ms": np.asarray(speeds, float),
            "wind_dir_deg": np.nan,
            "wind_gust_ms": pd.array([None] * len(hours), dtype="Float64"),
        }
    )


def test_to_hourly_grid_puts_nan_at_gaps():
    hours = [0, 1, 2, 5, 6]
    times, speed = to_hourly_grid(_frame(hours, [10.0, 11, 12, 15, 16]))
    assert len(times) == 7 and times[0] == T0 and str(times.tz) == "UTC"
    np.testing.assert_array_equal(speed, [10, 11, 12, np.nan, np.nan, 15, 16])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_frame([0, 2, 1], [1, 2, 3]), "column 'time' must be strictly increasing"),
        (_frame([0, 1.5], [1, 2]), "time 2024-03-01 01:30:00\\+00:00 is not on the 1h grid"),
        (_frame([0, 1], [1, 2]).assign(time=lambda d: d.time.dt.tz_localize(None)), "must be tz-aware"),
        (_frame([0, 1], [1, 2]).drop(columns="wind_speed_ms"), "measurements lack column 'wind_speed_ms'"),
    ],
)
def test_to_hourly_grid_rejects_bad_frames(frame, message):
    with pytest.raises(ValueError, match=message):
        to_hourly_grid(frame)


def test_select_origins_excludes_gaps_by_hand():
    speed = np.arange(20.0)
    speed[10] = np.nan
    # lookback 3, horizon 2: window [t-2, t+2] must avoid index 10 and fit in the grid
    got = select_origins(speed, lookback_steps=3, horizon_steps=2, start_idx=0, end_idx=20, step_steps=1)
    np.testing.assert_array_equal(got, [2, 3, 4, 5, 6, 7, 13, 14, 15, 16, 17])
    # a fixed stride from start_idx 1 (1, 4, 7, ...): 1 lacks history, 10 is missing
    np.testing.assert_array_equal(select_origins(speed, 3, 2, 1, 20, 3), [4, 7, 13, 16])
    # targets must fall before end_idx
    np.testing.assert_array_equal(select_origins(speed, 3, 2, 13, 18, 1), [13, 14, 15])
    with pytest.raises(ValueError, match="step_steps must be >= 1, got 0"):
        select_origins(speed, 3, 2, 0, 20, 0)


def test_persistence_on_gappy_grid_uses_the_origin_row():
    hours = [h for h in range(30) if h not in (12, 13)]
    times, speed = to_hourly_grid(_frame(hours, [100.0 + h for h in hours]))
    origins = select_origins(speed, lookback_steps=4, horizon_steps=3, start_idx=0, end_idx=len(speed), step_steps=1)
    assert not set(range(9, 16)) & set(origins.tolist())  # windows [t-3, t+3] touching 12 or 13
    pred = persistence_forecast(speed, origins, 3)
    np.testing.assert_array_equal(pred[:, 0], 100.0 + (times[origins] - T0) / pd.Timedelta("1h"))


def test_split_origins_keep_targets_inside_each_period():
    times = pd.date_range(T0, periods=200, freq="1h")
    grid = to_hourly_grid(pd.DataFrame({"time": times, "wind_speed_ms": np.ones(200)}))
    split = make_cutoffs(grid.times[np.isfinite(grid.speed)])
    val, test = split_origins(grid, split, lookback_steps=24, horizon_steps=6, step_steps=6)
    np.testing.assert_array_equal(val, [140, 146, 152])  # targets up to 158 < 160
    assert test[0] == 160 and test[-1] + 6 <= 199 and np.all(np.diff(test) == 6)


def test_refit_blocks():
    blocks = refit_blocks(np.arange(7), 3)
    assert [b.tolist() for b in blocks] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in refit_blocks(np.arange(4), None)] == [[0, 1, 2, 3]]


def _grid(n=60):
    times = pd.date_range(T0, periods=n, freq="1h")
    return times, 5.0 + np.sin(np.arange(n) / 3.0)


def test_run_backtest_long_table_and_same_origins():
    times, speed = _grid()
    origins, calls = np.array([10, 20, 30]), []

    def persistence(o):
        calls.append(o.copy())  # batched: one call with every origin
        return persistence_forecast(speed, o, 4)

    quantile = lambda o: np.stack([np.full((len(o), 4), v) for v in (4.0, 5.0, 6.0)], axis=-1)  # noqa: E731
    result = run_backtest(
        times, speed, origins, {"persistence": persistence, "q": quantile}, 4, quantiles=(0.1, 0.5, 0.9)
    )
    assert len(calls) == 1 and calls[0].tolist() == [10, 20, 30]
    f = result.forecasts
    assert list(f.columns) == FORECAST_COLUMNS + ["p10", "p50", "p90"]
    assert len(f) == 2 * 3 * 4
    first = f[(f.model == "persistence") & (f.horizon_h == 2)].iloc[1]  # origin 20, lead 2
    assert first.origin_time == times[20] and first.target_time == times[22]
    assert first.y_true == speed[22] and first.y_pred == speed[20] and np.isnan(first.p50)
    q = f[f.model == "q"]
    assert (q.y_pred == 5.0).all() and (q.p90 == 6.0).all()
    # both models scored on the same (origin, lead) pairs
    keys = f.groupby("model")[["origin_time", "horizon_h"]].apply(lambda d: tuple(map(tuple, d.values)))
    assert keys["q"] == keys["persistence"]
    y_true = speed[origins[:, None] + np.arange(1, 5)]
    pred_q = quantile(origins)
    expected = metrics_table(
        y_true,
        {"persistence": persistence_forecast(speed, origins, 4), "q": pred_q},
        quantiles=(0.1, 0.5, 0.9),
    )
    pd.testing.assert_frame_equal(result.metrics, expected)


def test_run_backtest_rejects_bad_origins_and_predictions():
    times, speed = _grid()
    speed[23] = np.nan
    pers = {"persistence": lambda o: persistence_forecast(speed, o, 4)}
    with pytest.raises(ValueError, match=r"origin 20 \(2024-03-01 20:00:00\+00:00\) has missing targets"):
        run_backtest(times, speed, np.array([10, 20]), pers, 4)
    with pytest.raises(ValueError, match=r"origins must lie in \[0, 56\), got 10..58"):
        run_backtest(times, speed, np.array([10, 58]), pers, 4)
    with pytest.raises(ValueError, match=r"predictions of 'bad' has shape \(1, 3\), expected y_true's shape \(1, 4\)"):
        run_backtest(times, speed, np.array([10]), {**pers, "bad": lambda o: np.zeros((len(o), 3))}, 4)
    with pytest.raises(ValueError, match="predictions of 'nan' hold non-finite values"):
        run_backtest(times, speed, np.array([10]), {**pers, "nan": lambda o: np.full((len(o), 4), np.nan)}, 4)


def test_promotion_reason_matches_the_example():
    decision = decide_promotion(1.52, 1.49, ("blend", 1.49), challenger_name="gru v3", champion_name="blend")
    assert decision == Decision(
        False, "blend", "gru v3 RMSE 1.520 m/s did not beat blend 1.490 m/s; champion stays blend"
    )


def test_worse_challenger_leaves_champion_unchanged():
    decision = decide_promotion(1.60, 1.40, ("blend", 1.49), challenger_name="gru v3", champion_name="gru v2")
    assert not decision.promote and decision.champion == "gru v2"
    assert decision.reason == "gru v3 RMSE 1.600 m/s did not beat gru v2 1.400 m/s; champion stays gru v2"


def test_better_challenger_is_promoted():
    decision = decide_promotion(1.30, 1.40, ("blend", 1.49), challenger_name="gru v3", champion_name="gru v2")
    assert decision.promote and decision.champion == "gru v3"
    assert decision.reason == (
        "gru v3 RMSE 1.300 m/s beat champion gru v2 1.400 m/s and best baseline blend 1.490 m/s; gru v3 is champion"
    )


def test_first_model_must_beat_best_baseline():
    lost = decide_promotion(1.50, None, ("blend", 1.49), challenger_name="gru v1")
    assert lost == Decision(False, "blend", "gru v1 RMSE 1.500 m/s did not beat blend 1.490 m/s; champion is blend")
    tie = decide_promotion(1.49, None, ("blend", 1.49), challenger_name="gru v1")
    assert not tie.promote and tie.champion == "blend"
    won = decide_promotion(1.40, None, ("blend", 1.49), challenger_name="gru v1")
    assert won.promote and won.champion == "gru v1"


def test_baseline_takes_over_a_champion_it_beats():
    decision = decide_promotion(1.55, 1.60, ("blend", 1.49), challenger_name="gru v3", champion_name="gru v2")
    assert not decision.promote and decision.champion == "blend"
    assert "champion is now blend" in decision.reason


def test_promotion_rejects_non_finite_rmse():
    with pytest.raises(ValueError, match="gru v3 RMSE must be a finite number >= 0, got nan"):
        decide_promotion(float("nan"), None, ("blend", 1.49), challenger_name="gru v3")


def test_deliberately_worse_model_end_to_end_keeps_baseline_champion():
    times, speed = _grid(200)
    origins = select_origins(speed, 24, 6, 100, 200, 6)
    preds = {
        "persistence": lambda o: persistence_forecast(speed, o, 6),
        "untrained": lambda o: np.zeros((len(o), 6)),  # stands in for an untrained network
    }
    result = run_backtest(times, speed, origins, preds, 6)
    name, base_rmse = best_model(result.metrics, ["persistence"])
    rmse = result.metrics.query("model == 'untrained' and metric == 'rmse' and horizon_h == 0")["value"].item()
    decision = decide_promotion(rmse, None, (name, base_rmse), challenger_name="untrained")
    assert not decision.promote and decision.champion == "persistence"


def test_models_never_import_prefect():
    for path in Path("models").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "prefect" for n in names), path

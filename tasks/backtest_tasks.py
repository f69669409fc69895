"""Prefect tasks of the backtest flow: thin wrappers over ``tasks.backtesting``."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks import backtesting
from tasks.artifact_keys import artifact_key
from tasks.plots import markdown_image, plot_rmse_and_skill
from windcast.config import PipelineConfig


@task(name="backtest-station", cache_policy=NO_CACHE)
def backtest_station(config: PipelineConfig, station_id: str, run_id: str) -> backtesting.StationBacktest:
    """Score networks and baselines on the same origins, write backtests/ and metrics/, apply the gate."""
    result = backtesting.backtest_station(config, station_id, run_id)
    get_run_logger().info("station %s: %s", station_id, result.decision)
    return result


@task(name="publish-backtest-report", cache_policy=NO_CACHE)
def publish_backtest_report(result: backtesting.StationBacktest) -> None:
    """A skill table and a markdown report (RMSE and skill by lead, the promotion decision) per station."""
    horizon = len(next(iter(result.skill_by_lead.values())))
    leads = [h for h in (1, 2, 3, 6, 12, 24) if h <= horizon]
    rows = []
    for model, skill in result.skill_by_lead.items():
        row = {
            "model": model,
            "rmse_ms": result.rmse_ms[model],
            "mean_skill": round(sum(skill) / len(skill), 4),
            "coverage_p10_p90": result.coverage.get(model),
        }
        row.update({f"skill_{h}h": skill[h - 1] for h in leads})
        rows.append(row)
    rows.sort(key=lambda r: r["rmse_ms"])
    key = result.station_id
    create_table_artifact(key=artifact_key("skill", key), table=rows, description=f"Backtest skill, station {key}")
    plot = plot_rmse_and_skill(result.rmse_by_lead, result.skill_by_lead, f"{key}: {result.n_origins} origins")
    header = "| model | RMSE m/s | mean skill | " + " | ".join(f"{h} h" for h in leads) + " | P10-P90 coverage |"
    lines = [
        f"# Backtest of {key}",
        "",
        f"**Decision:** {result.decision}",
        "",
        f"**Champion:** {result.champion['kind']} v{result.champion['version']}",
        "",
        markdown_image(plot, "RMSE and skill by lead time"),
        "",
        header,
        "|" + "---|" * (4 + len(leads)),
    ]
    for r in rows:
        cells = [f"{r[f'skill_{h}h']:+.3f}" for h in leads]
        cover = "-" if r["coverage_p10_p90"] is None else f"{100 * r['coverage_p10_p90']:.0f} %"
        lines.append(
            f"| {r['model']} | {r['rmse_ms']:.3f} | {r['mean_skill']:+.3f} | " + " | ".join(cells) + f" | {cover} |"
        )
    create_markdown_artifact("\n".join(lines), key=artifact_key("backtest-report", key), description="Backtest")

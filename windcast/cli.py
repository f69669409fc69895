"""The ``windcast`` command: run the flows on a YAML config (the embedded sample by default)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from windcast.config import PipelineConfig, load_config
from windcast.local_api import LocalApiError, prefect_api

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO_ROOT / "data" / "sample" / "windcast.yaml"


def _config_from(args: argparse.Namespace) -> PipelineConfig:
    return load_config(args.config, data_dir=args.data_dir)


def _ingest(args: argparse.Namespace) -> int:
    from flows.ingest import ingest_flow

    config = _config_from(args)
    reports = ingest_flow(config=config)
    print(json.dumps(reports, indent=2, default=str))
    print(f"\nmeasurements: {config.data_dir / 'measurements'}\nquarantine:   {config.data_dir / 'quarantine'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from flows.train import train_flow

    config = _config_from(args)
    summaries = train_flow(config=config)
    for s in summaries:
        print(
            f"{s['kind']:<5} {'+'.join(s['station_ids']):<24} {s['epochs']:>3} epochs {s['seconds']:7.1f} s  "
            f"versions {s['versions']}  val RMSE {s['metrics'].get('val_rmse_ms', float('nan')):.3f} m/s"
        )
    print(f"\nregistry: {config.data_dir / 'registry'}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from flows.backtest import backtest_flow

    config = _config_from(args)
    results = backtest_flow(config=config)
    for result in results.values():
        print_backtest(result)
    print(f"backtests: {config.data_dir / 'backtests'}\nmetrics:   {config.data_dir / 'metrics'}")
    return 0


def print_backtest(result: dict) -> None:
    """The per-lead skill table of one station's backtest, as printed by the CLI."""
    horizon = len(next(iter(result["skill_by_lead"].values())))
    leads = [h for h in (1, 2, 3, 6, 12, 18, 24) if h <= horizon]
    print(f"\n{result['station_id']}: {result['n_origins']} test origins (run {result['run_id']})")
    print(f"{'model':<18} {'RMSE m/s':>8} {'mean skill':>10} " + " ".join(f"{h:>5}h" for h in leads) + "  P10-P90")
    coverage = result.get("coverage", {})
    for model, rmse in sorted(result["rmse_ms"].items(), key=lambda kv: kv[1]):
        skill = result["skill_by_lead"][model]
        cells = " ".join(f"{skill[h - 1]:+6.3f}" for h in leads)
        cover = f"{100 * coverage[model]:6.1f} %" if model in coverage else ""
        print(f"{model:<18} {rmse:8.3f} {sum(skill) / len(skill):+10.3f} {cells} {cover}")
    print(f"decision: {result['decision']}")


def _forecast(args: argparse.Namespace) -> int:
    from flows.forecast import forecast_flow

    config = _config_from(args)
    print_forecasts(forecast_flow(config=config), config)
    return 0


def print_forecasts(results: dict, config: PipelineConfig) -> None:
    """Where each station's forecast went, and whether it is stale."""
    for sid, r in results.items():
        flag = f"STALE: {r['stale_reason']}" if r["stale"] else "fresh"
        if r.get("nwp_note"):
            flag += f"; {r['nwp_note']}"
        print(f"{sid}: {r['model']} v{r['model_version']} -> {config.data_dir / r['path']} ({flag})")


def _run(args: argparse.Namespace) -> int:
    from flows.pipeline import pipeline_flow

    config = _config_from(args)
    outcome = pipeline_flow(config=config)
    for result in outcome["backtest"].values():
        print_backtest(result)
    print()
    print_forecasts(outcome["forecast"], config)
    print(
        f"\noutputs under {config.data_dir}: measurements/ quarantine/ registry/ backtests/ metrics/ forecasts/ "
        "reports/"
    )
    print("see the run, its logs and artifacts in the Prefect UI: make ui, then open http://127.0.0.1:4200")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``windcast`` command."""
    parser = argparse.ArgumentParser(prog="windcast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in [
        ("ingest", _ingest, "fetch, validate and store measurements"),
        ("train", _train, "train the configured networks and register them"),
        (
            "backtest",
            _backtest,
            "score networks and baselines on the same origins and apply the promotion gate",
        ),
        ("forecast", _forecast, "forecast every station with its champion and publish the report"),
        ("run", _run, "run the main job: ingest, train, backtest (the embedded sample by default)"),
    ]:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", type=Path, default=SAMPLE_CONFIG, help="pipeline YAML (default: the sample)")
        cmd.add_argument("--data-dir", type=Path, default=None, help="override the config's data directory")
        cmd.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        _config_from(args)  # a bad config fails here, before any server starts
        with prefect_api():  # PREFECT_API_URL, or a local API stopped when the command ends
            return args.func(args)
    except (FileNotFoundError, ValueError) as exc:  # a bad config or argument: nothing ran
        print(f"windcast: error: {exc}", file=sys.stderr)
        return 2
    except LocalApiError as exc:  # no API to run on: nothing ran
        print(f"windcast: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a run failed: details (Prefect's logs, the full message) above, the gist last
        message = f"{type(exc).__name__}: {exc}"
        print(f"windcast: details: {message}", file=sys.stderr)
        print(f"windcast: {args.command} failed: {one_sentence(str(exc))}", file=sys.stderr)
        return 1


def one_sentence(message: str, limit: int = 300) -> str:
    """The gist of an error message: its first clause (up to '; ' or a newline), at most `limit` characters."""
    first = message.strip().split("\n", 1)[0].split("; ", 1)[0].strip()
    if len(first) > limit:
        first = first[: limit - 3].rsplit(" ", 1)[0] + "..."
    return first + (" (details above)" if first != message.strip() else "")


if __name__ == "__main__":
    sys.exit(main())

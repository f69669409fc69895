"""The ``windcast`` command: run the flows on a YAML config (the embedded sample by default)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from windcast.config import PipelineConfig, load_config

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


def _run(args: argparse.Namespace) -> int:
    # Until the training and forecasting stages land, the main job is ingestion.
    return _ingest(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``windcast`` command."""
    parser = argparse.ArgumentParser(prog="windcast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in [
        ("ingest", _ingest, "fetch, validate and store measurements"),
        ("run", _run, "run the main job (the embedded sample when no --config is given)"),
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
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"windcast: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

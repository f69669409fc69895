"""Prefect tasks of the train flow: thin wrappers over ``tasks.training``."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from tasks import training
from tasks.artifact_keys import artifact_key
from tasks.plots import markdown_image
from windcast.config import PipelineConfig


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(
    config: PipelineConfig, station_ids: list[str], kind: str, concurrent_jobs: int = 1, use_nwp: bool = False
) -> training.TrainSummary:
    """Train one network on the stations' measurements (and NWP) and register it, publishing progress per epoch."""
    logger = get_run_logger()
    label = f"{kind}{'_nwp' if use_nwp else ''} {'+'.join(station_ids)}"
    max_epochs = config.training.max_epochs * config.training.n_members
    progress_id = create_progress_artifact(0.0, description=f"training {label}")
    done = {"epochs": 0}

    def on_epoch(stats) -> None:
        done["epochs"] += 1
        logger.info(
            "%s member %d epoch %d: train %.4f val %.4f (best %.4f at %d) lr %.2e %.1fs",
            label, stats.member, stats.epoch, stats.train_loss, stats.val_loss, stats.best_val_loss,
            stats.best_epoch, stats.lr, stats.seconds,
        )  # fmt: skip
        update_progress_artifact(progress_id, min(99.0, 100.0 * done["epochs"] / max_epochs))

    summary = training.train_and_register(config, station_ids, kind, on_epoch, concurrent_jobs, use_nwp)
    update_progress_artifact(progress_id, 100.0, description=f"trained {label}")
    logger.info("%s: %d epochs in %.1fs, registered %s", label, summary.epochs, summary.seconds, summary.versions)
    return summary


@task(name="publish-training-summary", cache_policy=NO_CACHE)
def publish_training_summary(summaries: list[training.TrainSummary]) -> None:
    """A table of every trained model and a markdown report with the loss curves."""
    rows = []
    for s in summaries:
        for sid, version in s.versions.items():
            rows.append(
                {
                    "station": sid,
                    "model": s.kind,
                    "version": version,
                    "trained_on": "+".join(s.station_ids),
                    "epochs": s.epochs,
                    "best_epochs": ",".join(map(str, s.best_epochs)),
                    "seconds": s.seconds,
                    **{k: v for k, v in s.metrics.items() if k.startswith("val_")},
                }
            )
    create_table_artifact(key=artifact_key("training"), table=rows, description="Models trained in this run")
    plot = training.loss_plot(summaries, "training and validation loss")
    body = "\n".join(
        [
            "# Training",
            "",
            markdown_image(plot, "loss curves"),
            "",
            "| station | model | version | epochs | val RMSE m/s | val persistence RMSE m/s |",
            "|---|---|---|---|---|---|",
        ]
        + [
            f"| {r['station']} | {r['model']} | v{r['version']} | {r['epochs']} | "
            f"{r.get('val_rmse_ms', float('nan')):.3f} | {r.get('val_rmse_persistence_ms', float('nan')):.3f} |"
            for r in rows
        ]
    )
    create_markdown_artifact(body, key=artifact_key("training-report"), description="Loss curves")

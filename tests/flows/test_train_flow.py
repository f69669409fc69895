"""train_flow on the embedded sample under a real Prefect API: GRU and LSTM train, the loss falls, both register."""

import asyncio
from pathlib import Path

from flows.train import train_flow
from tasks import registry
from tasks import store as st
from tasks.ingest import ingest_station
from windcast.config import load_config

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "windcast.yaml"


async def artifact_keys(*keys: str) -> set[str]:
    """Which of these keys have artifacts (asked by key: the session's API holds many artifacts of other tests,
    more than one page of an unfiltered read, in random order)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(keys))))
    return {a.key for a in found}


def test_train_flow_on_the_embedded_sample(prefect_harness, tmp_path):
    sample = load_config(SAMPLE, data_dir=tmp_path / "store")
    config = sample.model_copy(
        update={
            "stations": [sample.station("greensboro")],
            "training": sample.training.model_copy(update={"kinds": ["gru", "lstm"], "max_epochs": 4, "patience": 4}),
        }
    )
    ingest_station(config, config.stations[0])

    summaries = train_flow(config=config)

    assert sorted(s["kind"] for s in summaries) == ["gru", "lstm"]
    for s in summaries:
        assert s["epochs"] == 4 and s["versions"] == {"greensboro": 1}
        assert s["train_loss"][-1] < s["train_loss"][0], f"{s['kind']} training loss did not fall: {s['train_loss']}"
    store = st.Store(config.data_dir)
    for kind in ("gru", "lstm"):
        (version,) = registry.list_versions(store, "greensboro", kind)
        assert (version.path / "model.pt").exists()
        meta = registry.read_meta(version)
        assert meta["cutoffs"]["greensboro"]["train_end"] < "2100"
        assert meta["init_weights"] is None  # a year of data: above pretrained_max_hours
        assert meta["skip"]["centre"] in ("blend", "persistence") and meta["skip"]["n_lags"] in (24, 72, 168)
    keys = {"windcast-training", "windcast-training-report"}
    assert asyncio.run(artifact_keys(*keys)) == keys

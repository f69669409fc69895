"""Start a network from pretrained weights instead of from scratch (fine-tuning a new station).

A pretrained checkpoint is an ordinary forecaster checkpoint (`models.checkpoint`, loaded weights-only). Its first
member's weights are copied into every member of the new network wherever a parameter's name and shape match:
the encoder, the head on the last hidden state, the blend weights. The encoder's input weights are matched
channel by channel by feature name, so a station that reports direction can start from a network pretrained on
speed only: a channel the pretrained network never saw starts at zero weight (it adds nothing until training
finds a use for it), a pretrained channel the new station lacks is dropped. The linear skip path is never copied:
it is the station's own closed-form ridge (`models.skip`), fitted after the load on top of the loaded blend.

`BUNDLED` lists the checkpoints shipped with the package (docs/models.md, "Pretrained start", says which data and
which command made them); `init_weights="auto"` takes the one that fits the network's kind and sizes, if any.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from models.networks import ForecastEnsemble

log = logging.getLogger("windcast.models.warm_start")
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
# (kind, hidden_size, num_layers) -> file in PRETRAINED_DIR
BUNDLED = {("gru", 32, 1): "knmi_gru32.pt", ("lstm", 32, 1): "knmi_lstm32.pt"}
INPUT_WEIGHT_PREFIXES = ("encoder.weight_ih_l0",)  # recurrent encoders: (gates * hidden, n_features)
NEVER_COPIED = ("skip.",)


def resolve_init_weights(init_weights: str | None, kind: str, hidden_size: int, num_layers: int) -> Path | None:
    """The checkpoint to start from: None/"none" -> None; "auto" -> the bundled one for this network, if any."""
    if init_weights is None or init_weights == "none":
        return None
    if init_weights == "auto":
        name = BUNDLED.get((kind, int(hidden_size), int(num_layers)))
        return None if name is None or not (PRETRAINED_DIR / name).exists() else PRETRAINED_DIR / name
    path = Path(init_weights)
    if not path.is_file():
        raise ValueError(f"init_weights {init_weights!r}: no such checkpoint file")
    return path


def read_pretrained(path: str | Path) -> dict:
    """The checkpoint's payload (weights-only load), refusing anything that is not a forecaster checkpoint."""
    from models.checkpoint import read_payload  # checkpoint imports training, which imports this module

    return read_payload(path)


@torch.no_grad()
def load_pretrained(model: ForecastEnsemble, payload: dict, feature_names: list[str]) -> dict:
    """Copy the pretrained first member into every member of `model`; returns {"copied": [...], "skipped": [...]}."""
    prefix = "members.0."
    source = {k[len(prefix) :]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    source_names = list(payload["feature_names"])
    copied, skipped = [], []
    for name, param in model.members[0].state_dict().items():
        value = source.get(name)
        if value is None or name.startswith(NEVER_COPIED):
            skipped.append(name)
        elif name.startswith(INPUT_WEIGHT_PREFIXES) and value.shape[0] == param.shape[0]:
            copied.append(name)
        elif tuple(value.shape) == tuple(param.shape):
            copied.append(name)
        else:
            skipped.append(name)
    for member in model.members:
        state = member.state_dict()
        for name in copied:
            if name.startswith(INPUT_WEIGHT_PREFIXES):
                state[name].copy_(_map_columns(source[name], source_names, feature_names))
            else:
                state[name].copy_(source[name])
    log.info("pretrained start: copied %d tensors, kept %d fresh (%s)", len(copied), len(skipped), skipped)
    return {"copied": copied, "skipped": skipped}


def _map_columns(weight: torch.Tensor, source_names: list[str], target_names: list[str]) -> torch.Tensor:
    """Input weights (rows, len(source_names)) laid out for target_names: shared names copied, new ones zero."""
    out = torch.zeros(weight.shape[0], len(target_names), dtype=weight.dtype)
    for j, name in enumerate(target_names):
        if name in source_names:
            out[:, j] = weight[:, source_names.index(name)]
    return out

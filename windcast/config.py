"""The one configuration model of a windcast pipeline, read from YAML by the CLI and passed to the flows."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

STATION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SPEED_UNITS = ("m/s", "km/h", "kn", "mph", "0.1 m/s")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def check_station_id(station_id: str) -> str:
    """Return the id if it is safe as a path component, else raise ValueError naming it."""
    if not isinstance(station_id, str) or not STATION_ID_PATTERN.fullmatch(station_id):
        raise ValueError(
            f"station id {station_id!r} is not allowed: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return station_id


class FileSource(_Frozen):
    """A local CSV or Parquet export (SCADA, met mast logger) with a column mapping."""

    kind: Literal["file"] = "file"
    path: Path
    format: Literal["csv", "parquet"] | None = Field(
        None, description="None: guessed from the suffix (.csv, .csv.gz, .parquet)"
    )
    time_column: str = "time"
    time_format: str | None = Field(None, description="strftime format; None: ISO 8601")
    timezone: str = Field(
        "UTC",
        description="IANA zone or fixed offset applied to times that carry no offset (DST handled)",
    )
    timestamp_at: Literal["start", "end"] = Field(
        "start", description="whether a stamp marks the start or the end of its averaging interval"
    )
    speed_column: str = "wind_speed_ms"
    speed_unit: Literal["m/s", "km/h", "kn", "mph", "0.1 m/s"] = "m/s"
    direction_column: str | None = "wind_dir_deg"
    gust_column: str | None = "wind_gust_ms"
    csv_separator: str = ","
    encoding: str | None = Field(
        None, description="text encoding of a CSV (latin-1, cp1252, utf-16, ...); None: a BOM's, else UTF-8"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        import pandas as pd

        try:
            pd.Timestamp("2000-01-01").tz_localize(value)
        except Exception:  # pytz, zoneinfo and dateutil each raise their own type
            raise ValueError(
                f"time zone {value!r} is unknown: use an IANA name such as 'Europe/Amsterdam', 'UTC' or a fixed "
                "offset such as '+01:00'"
            ) from None
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding_is_known(cls, value: str | None) -> str | None:
        import codecs

        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"encoding {value!r} is unknown: use a Python codec name such as 'latin-1'") from None
        return value


class NdbcSource(_Frozen):
    """A NOAA NDBC buoy or C-MAN station: the realtime file and/or historical yearly stdmet files."""

    kind: Literal["ndbc"] = "ndbc"
    station: str = Field(description="NDBC station id, e.g. 44013 or TPLM2")
    realtime: bool = Field(True, description="fetch the last-45-days realtime2 file")
    historical_years: list[int] = Field(default_factory=list, description="yearly stdmet files")
    base_url: str = "https://www.ndbc.noaa.gov"

    @field_validator("station")
    @classmethod
    def _station_is_plain(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]{3,8}", value):
            raise ValueError(f"NDBC station {value!r} must be 3-8 letters or digits")
        return value


class OpenMeteoSource(_Frozen):
    """The Open-Meteo historical archive API at one latitude/longitude (reanalysis, not measurements)."""

    kind: Literal["open-meteo"] = "open-meteo"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    start_date: date
    end_date: date | None = Field(None, description="None: today (UTC)")
    base_url: str = "https://archive-api.open-meteo.com"
    api_key_env: str = Field("OPEN_METEO_API_KEY", description="environment variable holding the optional API key")
    api_key_secret_block: str | None = Field(
        None, description="name of a Prefect Secret block holding the API key (wins over the env)"
    )


Source = Annotated[FileSource | NdbcSource | OpenMeteoSource, Field(discriminator="kind")]


class NwpSettings(_Frozen):
    """Weather-model point forecasts for a station from Open-Meteo: future-known inputs of the models.

    The hourly ingest fetches the latest forecast (forecast API); past model runs for training come from the
    Single Runs API, one request per run from `history_runs_from`. See README "Weather-model forecasts".
    """

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    models: list[str] = Field(
        default_factory=lambda: ["best_match"], min_length=1, description="Open-Meteo weather models to fetch"
    )
    use_model: str | None = Field(None, description="the model the networks and NWP baselines read; None: the first")
    forecast_days: int = Field(3, ge=1, le=16)
    history_runs_from: date | None = Field(None, description="fetch past runs (Single Runs API) from this day")
    history_runs_until: date | None = Field(None, description="last day of past runs; None: today (UTC)")
    history_run_hours: list[int] = Field(default_factory=lambda: [0, 12], description="UTC run hours to fetch")
    availability_delay_hours: float = Field(
        6.0, ge=0, description="a past run counts as known this long after its initialisation time"
    )
    max_issue_age_hours: float = Field(
        18.0, gt=0, description="older latest issue at a forecast origin: fall back to the measurement-only model"
    )
    base_url: str = "https://api.open-meteo.com"
    single_runs_base_url: str = "https://single-runs-api.open-meteo.com"

    @field_validator("models")
    @classmethod
    def _models_are_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9_]{1,64}", name):
                raise ValueError(f"weather model {name!r} must be lower-case letters, digits or '_'")
        if len(set(value)) != len(value):
            raise ValueError(f"weather models repeat: {value}")
        return value

    @field_validator("history_run_hours")
    @classmethod
    def _hours_in_day(cls, value: list[int]) -> list[int]:
        bad = [h for h in value if not 0 <= h <= 23]
        if bad:
            raise ValueError(f"history_run_hours {bad} must be UTC hours 0..23")
        return sorted(set(value))

    @model_validator(mode="after")
    def _use_model_fetched(self) -> NwpSettings:
        if self.use_model is not None and self.use_model not in self.models:
            raise ValueError(f"use_model {self.use_model!r} is not one of the fetched models {self.models}")
        return self

    @property
    def model(self) -> str:
        """The weather model the networks and NWP baselines read."""
        return self.use_model or self.models[0]


class Station(_Frozen):
    """One measurement station and where its data comes from."""

    id: str
    source: Source
    name: str | None = None
    nwp: NwpSettings | None = Field(None, description="weather-model forecasts for this station; None: none")

    @field_validator("id")
    @classmethod
    def _id_is_safe(cls, value: str) -> str:
        return check_station_id(value)


class HttpSettings(_Frozen):
    """Timeouts and retries for every HTTP call (urllib3 Retry; no Prefect retries stacked on top)."""

    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    backoff_factor_s: float = Field(1.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0, description="cap on a server's Retry-After")
    deadline_s: float = Field(600.0, gt=0, description="a GET (retries included) that has not finished by then fails")


class ResampleSettings(_Frozen):
    """How sub-hourly samples become one value per interval."""

    min_coverage: float = Field(
        0.5,
        gt=0,
        le=1,
        description="an interval needs at least ceil(min_coverage * expected samples) valid samples",
    )


class QualitySettings(_Frozen):
    """Thresholds of the validation checks (QARTOD tests through ioos-qc, GX expectations)."""

    max_failed_fraction: float = Field(
        0.05, ge=0, le=1, description="fail the run when more of a station's rows fail than this"
    )
    speed_min_ms: float = 0.0
    speed_max_ms: float = 75.0
    gust_max_ms: float = Field(115.0, gt=0, description="highest plausible gust (the record is 113 m/s)")
    speed_resolution_ms: float | None = Field(
        None, gt=0, description="the sensor's reporting step (1.0 whole m/s, 0.514444 whole knots); None: inferred"
    )
    flat_line_tolerance_ms: float = Field(
        0.01, gt=0, description="readings closer than max(this, resolution / 2) count as the same"
    )
    flat_line_min_hours: float = Field(4.0, gt=0, description="shorter flat spells are never flagged")
    flat_line_suspect_chance: float = Field(
        1e-3, gt=0, lt=1, description="a flat spell less likely than this (at the station's resolution) is suspect"
    )
    flat_line_fail_chance: float = Field(
        1e-6, gt=0, lt=1, description="a flat spell less likely than this (at the station's resolution) fails"
    )
    flat_line_max_hours: float = Field(
        48.0, gt=0, description="a flat spell above the calm limit this long fails at any resolution"
    )
    flat_line_min_speed_ms: float = Field(
        0.5, ge=0, description="calm spells below this speed are not called a stuck sensor"
    )
    flat_line_calm_fail_hours: float = Field(
        48.0, gt=0, description="an exactly constant calm this long is a sensor reading zero"
    )
    repeated_day_fail_hours: float = Field(
        48.0, gt=0, description="readings equal to those a day earlier for this long are a copied placeholder day"
    )
    spike_suspect_ms: float = Field(8.0, gt=0)
    spike_fail_ms: float = Field(15.0, gt=0)
    rate_of_change_suspect_ms_per_h: float = Field(10.0, gt=0)
    rate_of_change_ms_per_h: float = Field(
        15.0, gt=0, description="step test fail threshold (per hour; raise it for sub-hourly frequencies)"
    )
    direction_flat_line_suspect_hours: float = Field(12.0, gt=0)
    direction_flat_line_fail_hours: float = Field(
        24.0, gt=0, description="stuck vane; many stations report direction in 10 degree steps"
    )
    direction_flat_line_tolerance_deg: float = Field(0.5, gt=0)
    direction_flat_line_min_speed_ms: float = Field(
        3.0, ge=0, description="below this speed a vane may legitimately sit still"
    )

    @model_validator(mode="after")
    def _chances_ordered(self) -> QualitySettings:
        if self.flat_line_fail_chance > self.flat_line_suspect_chance:
            raise ValueError(
                f"flat_line_fail_chance {self.flat_line_fail_chance} must not exceed "
                f"flat_line_suspect_chance {self.flat_line_suspect_chance}"
            )
        return self


class TrainingSettings(_Frozen):
    """Which networks to train and how; the defaults equal models.training.ForecasterConfig's (a test checks)."""

    kinds: list[Literal["gru", "lstm", "rnn", "cnn", "cnn_lstm", "fclstm"]] = Field(
        default_factory=lambda: ["gru", "lstm"]
    )
    lookback_steps: int = Field(168, ge=1)
    horizon_steps: int = Field(24, ge=1)
    hidden_size: int = Field(32, ge=1)
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    quantiles: list[float] = Field(default_factory=list, description="e.g. [0.1, 0.5, 0.9]; [] = point")
    autoregressive: bool = False
    n_members: int = Field(3, ge=1, description="seed ensemble size (members averaged)")
    max_epochs: int = Field(20, ge=1)
    patience: int = Field(4, ge=0)
    batch_size: int = Field(256, ge=1)
    windows_per_epoch: int = Field(2048, ge=0, description="training windows sampled per epoch (0: all)")
    learning_rate: float = Field(3e-3, gt=0)
    init_weights: str | None = Field(
        "auto", description="pretrained start: auto (the bundled checkpoint for the kind and size), a path, or null"
    )
    finetune_learning_rate: float = Field(3e-4, gt=0, description="peak learning rate from pretrained weights")
    pretrained_max_hours: int = Field(
        4380, ge=0, description="pretrained start only below this many observed training hours per station"
    )
    seed: int = 0
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads per training; None: 1 when several trainings run at once"
    )
    multi_station: bool = Field(False, description="one model over all stations instead of one per station")


class BacktestSettings(_Frozen):
    """The rolling-origin protocol every model is scored with."""

    train_fraction: float = Field(0.7, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    step_hours: int = Field(6, ge=1, description="hours between forecast origins")
    refit_every_origins: int | None = Field(
        None, ge=1, description="baselines refit on an expanding window every k origins (None: fit once)"
    )

    @model_validator(mode="after")
    def _room_for_test(self) -> BacktestSettings:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError(
                f"train_fraction {self.train_fraction} + val_fraction {self.val_fraction} leave no test period"
            )
        return self


class ForecastSettings(_Frozen):
    """When a forecast counts as fresh, and how model health is watched."""

    max_data_age_hours: float = Field(
        3.0, gt=0, description="a forecast whose newest observation is older than this is marked stale"
    )
    health_window_days: float = Field(7.0, gt=0, description="realised error is measured over these days")
    health_tolerance: float = Field(
        1.25, gt=1, description="warn when realised RMSE exceeds the backtest RMSE by this factor"
    )
    health_min_forecasts: int = Field(24, ge=1, description="realised (forecast, observation) pairs needed")


class RunnerSettings(_Frozen):
    """Which task runner executes the per-station tasks of a flow."""

    kind: Literal["thread", "dask"] = Field(
        "thread",
        description="thread: Prefect's ThreadPoolTaskRunner in the flow run's process; dask: prefect-dask",
    )
    address: str | None = Field(
        None,
        description="dask only: scheduler of an existing cluster (tcp://host:8786); None: a local cluster",
    )
    n_workers: int = Field(2, ge=1, description="dask local cluster only: worker processes")
    threads_per_worker: int = Field(1, ge=1, description="dask local cluster only: threads per worker process")
    max_workers: int | None = Field(
        None, ge=1, description="thread only: size of the thread pool (None: Prefect's default)"
    )

    @model_validator(mode="after")
    def _fields_match_kind(self) -> RunnerSettings:
        if self.kind == "thread" and self.address is not None:
            raise ValueError(f"runner address {self.address!r} needs kind 'dask', got kind 'thread'")
        if self.kind == "dask" and self.max_workers is not None:
            raise ValueError("runner max_workers applies to kind 'thread'; for 'dask' set n_workers")
        return self


class PipelineConfig(_Frozen):
    """Everything a windcast run needs: stations, frequency and where the data lives."""

    stations: list[Station] = Field(default_factory=list)
    frequency: str = Field("1h", description="target frequency, a pandas offset such as 1h or 30min")
    data_dir: Path = Path("data/store")
    http: HttpSettings = HttpSettings()
    resample: ResampleSettings = ResampleSettings()
    quality: QualitySettings = QualitySettings()
    training: TrainingSettings = TrainingSettings()
    backtest: BacktestSettings = BacktestSettings()
    forecast: ForecastSettings = ForecastSettings()
    runner: RunnerSettings = RunnerSettings()

    @field_validator("frequency")
    @classmethod
    def _frequency_is_fixed(cls, value: str) -> str:
        import pandas as pd

        try:
            offset = pd.tseries.frequencies.to_offset(value)
            pd.Timedelta(offset)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"frequency {value!r} is not a fixed pandas offset like '1h'") from exc
        return value

    @model_validator(mode="after")
    def _station_ids_unique(self) -> PipelineConfig:
        ids = [s.id for s in self.stations]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"station ids must be unique, repeated: {dupes}")
        return self

    def station(self, station_id: str) -> Station:
        """Return the station with this id."""
        for s in self.stations:
            if s.id == station_id:
                return s
        raise KeyError(f"no station {station_id!r} in the config")


def load_config(path: Path | str, data_dir: Path | str | None = None) -> PipelineConfig:
    """Read a pipeline config from YAML; relative file paths resolve against the YAML's folder."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {_yaml_problem(exc)}") from None
    if raw is None:
        raise ValueError(f"config file {str(path)!r} is empty: it must define at least one station")
    if not isinstance(raw, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping, got {type(raw).__name__}")
    if not raw.get("stations"):
        raise ValueError(f"config file {str(path)!r} defines no stations: nothing to do")
    base = path.resolve().parent
    for station in raw.get("stations") or []:
        source = station.get("source") if isinstance(station, dict) else None
        if isinstance(source, dict) and source.get("kind") == "file" and "path" in source:
            p = Path(source["path"])
            source["path"] = str(p if p.is_absolute() else base / p)
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"config file {str(path)!r}: {_first_errors(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'line L, column C: problem' of a YAML error (its own text names '<unicode string>', not the file)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else str(problem)


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    """The first few pydantic errors, each as 'where: what'."""
    errors = exc.errors()
    parts = [f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more

"""The keyed upsert shared by measurements/ and nwp/: exact counts, a pandas oracle, idempotence, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.upsert import split_by, upsert_partition

SCHEMA = pa.schema(
    [
        pa.field("issued_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("valid_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("speed", pa.float64()),
        pa.field("run_time", pa.timestamp("us", tz="UTC")),
        pa.field("note", pa.string()),
    ]
)
KEY, VALUES = ["issued_at", "valid_time"], ["speed", "run_time"]


def rows(issued_h, valid_h, speed, note="a") -> pa.Table:
    base = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "issued_at": [base + pd.Timedelta(hours=h) for h in issued_h],
            "valid_time": [base + pd.Timedelta(hours=h) for h in valid_h],
            "speed": speed,
            "run_time": pd.NaT,
            "note": note,
        }
    )
    return pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)


def test_counts_are_exact_nulls_equal_nulls_and_a_second_merge_writes_nothing(tmp_path):
    path = tmp_path / "p" / "part-0.parquet"
    first = upsert_partition(path, rows([0, 0, 6], [3, 1, 7], [1.0, np.nan, 3.0]), KEY, VALUES)
    assert (first.inserted, first.updated, first.unchanged, first.files_written) == (3, 0, 0, 1)
    stored = pq.read_table(path).to_pandas()
    assert stored["valid_time"].dt.hour.tolist() == [1, 3, 7]  # sorted by the key

    before = path.read_bytes()
    # NaN equals the stored null, `note` is not a value column: nothing to write
    again = upsert_partition(path, rows([6, 0, 0], [7, 1, 3], [3.0, np.nan, 1.0], note="b"), KEY, VALUES)
    assert (again.inserted, again.updated, again.unchanged, again.files_written) == (0, 0, 3, 0)
    assert path.read_bytes() == before

    revised = upsert_partition(path, rows([0, 0, 6], [1, 2, 8], [5.0, 2.0, 4.0], note="c"), KEY, VALUES)
    assert (revised.inserted, revised.updated, revised.unchanged, revised.files_written) == (2, 1, 0, 1)
    stored = pq.read_table(path).to_pandas()
    assert stored["speed"].tolist() == [5.0, 2.0, 1.0, 3.0, 4.0]
    assert stored["note"].tolist() == ["c", "c", "a", "a", "c"]  # an unchanged row keeps what it had


def test_may_replace_keeps_a_stored_row_it_refuses(tmp_path):
    path = tmp_path / "part-0.parquet"
    upsert_partition(path, rows([0, 0], [1, 2], [1.0, 2.0]), KEY, VALUES)
    never = lambda stored, new: np.zeros(new.num_rows, dtype=bool)  # noqa: E731
    counts = upsert_partition(path, rows([0, 0], [1, 3], [9.0, 3.0]), KEY, VALUES, may_replace=never)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 0, 1)
    assert pq.read_table(path)["speed"].to_pylist() == [1.0, 2.0, 3.0]


def test_merge_matches_a_pandas_oracle_on_random_overlaps(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "part-0.parquet"
    expected = SCHEMA.empty_table().to_pandas()[["issued_at", "valid_time", "speed"]]
    for _ in range(4):
        valid = rng.choice(60, size=25, replace=False)
        issued = valid % 3
        speed = rng.integers(0, 3, size=25).astype(float)
        speed[rng.random(25) < 0.2] = np.nan
        new = rows(issued, valid, speed)
        frame = new.to_pandas()[["issued_at", "valid_time", "speed"]]
        merged = pd.concat([expected, frame]).drop_duplicates(subset=KEY, keep="last")
        old_keyed = expected.set_index(KEY)["speed"]
        new_keyed = frame.set_index(KEY)["speed"]
        common = new_keyed.index.intersection(old_keyed.index)
        a, b = old_keyed.loc[common], new_keyed.loc[common]
        changed = int((~((a == b) | (a.isna() & b.isna()))).sum())

        counts = upsert_partition(path, new, KEY, VALUES)

        assert (counts.inserted, counts.updated, counts.unchanged) == (25 - len(common), changed, len(common) - changed)
        expected = merged.sort_values(KEY).reset_index(drop=True)
        stored = pq.read_table(path).to_pandas()[["issued_at", "valid_time", "speed"]]
        pd.testing.assert_frame_equal(stored, expected, check_dtype=False)


def test_rows_that_repeat_a_key_are_refused_naming_it(tmp_path):
    path = tmp_path / "part-0.parquet"
    key = r"\(issued_at=2024-01-01 00:00:00\+00:00, valid_time=2024-01-01 02:00:00\+00:00\)"
    with pytest.raises(ValueError, match=rf"part-0.parquet: the rows to merge repeat the key {key}; expected one row"):
        upsert_partition(path, rows([0, 0, 0], [1, 2, 2], [1.0, 2.0, 3.0]), KEY, VALUES)
    assert not path.exists()


def test_a_file_written_before_a_column_existed_merges_with_it_as_null(tmp_path):
    path = tmp_path / "part-0.parquet"
    pq.write_table(rows([0], [1], [1.0]).drop_columns(["run_time", "note"]), path)
    counts = upsert_partition(path, rows([0, 0], [1, 2], [1.0, 2.0]), KEY, VALUES)
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 0, 1)
    stored = pq.read_table(path)
    assert stored.schema.names == SCHEMA.names and stored["note"].to_pylist() == [None, "a"]


def test_split_by_groups_unsorted_labels_in_order():
    table = pa.table({"x": [0, 1, 2, 3, 4]})
    parts = [
        (label, part["x"].to_pylist()) for label, part in split_by(table, np.array([2024, 2023, 2024, 2023, 2025]))
    ]
    assert parts == [(2023, [1, 3]), (2024, [0, 2]), (2025, [4])]

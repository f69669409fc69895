"""Times of CSV text columns (pyarrow strings) as the line-by-line parser reads them, for the columnar path.

A time is `YYYY-MM-DD[T ]HH:MM:SS` with an optional `Z` / `+HH:MM` / `+HHMM` offset (hours 00-14), a real date and
time of day; anything else is left to the line-by-line parser.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TIME_PATTERN = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(Z|[+-](0\d|1[0-4]):?[0-5]\d)?$"
)
# byte length of a `TIME_PATTERN` value -> {byte position: the separator there (either of two)}
_DATE_TIME_SEPS = {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":"}
_LAYOUTS = {
    19: _DATE_TIME_SEPS,
    20: {**_DATE_TIME_SEPS, 19: b"Z"},
    24: {**_DATE_TIME_SEPS, 19: b"+-"},
    25: {**_DATE_TIME_SEPS, 19: b"+-", 22: b":"},
}


def read_times(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times as naive UTC datetime64[us], which matched the format and are real dates, which had no offset)."""
    one_format = cast_one_format(text)
    if one_format is not None:
        return one_format
    n = len(text)
    ok = np.asarray(pc.match_substring_regex(text, TIME_PATTERN))
    if not ok.all():  # padded times: trim them as the line parser does
        text = pc.utf8_trim_whitespace(text)
        ok = np.asarray(pc.match_substring_regex(text, TIME_PATTERN))
    if ok.all():  # usual case: one cast, which also refuses impossible dates such as 2021-02-30
        for naive_all, kind in ((False, pa.timestamp("us", tz="UTC")), (True, pa.timestamp("us"))):
            try:
                cast = pc.cast(text, kind).to_numpy(zero_copy_only=False).astype("datetime64[us]")
            except pa.ArrowInvalid:  # mixed offsets and wall-clock times, or a bad date: the general path
                continue
            return cast, ok, np.full(n, naive_all)
    good = pc.if_else(pa.array(ok), text, pa.scalar("2000-01-01T00:00:00", pa.string()))
    stamp = pc.replace_substring(pc.utf8_slice_codeunits(good, 0, 19), " ", "T")  # "YYYY-MM-DDTHH:MM:SS"
    naive_utc = pc.strptime(stamp, format="%Y-%m-%dT%H:%M:%S", unit="us")
    day = pc.cast(pc.utf8_slice_codeunits(good, 8, 10), pa.int64())
    ok &= np.asarray(pc.equal(pc.day(naive_utc), day))  # strptime rolls 2021-02-30 over to March: not a date
    offset = pc.utf8_slice_codeunits(good, 19, 25)
    naive = np.asarray(pc.equal(offset, "")).astype(bool)
    offset_min = _offset_minutes(offset)
    times = naive_utc.to_numpy(zero_copy_only=False).astype("datetime64[us]") - offset_min.astype("timedelta64[m]")
    return times, ok, naive


def cast_one_format(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`read_times` of a column whose values all have one layout, cast in one go; None where that does not apply.

    The layout is `YYYY-MM-DD[T ]HH:MM:SS` with no offset, `Z`, `+HHMM` or `+HH:MM` (one length: 19, 20, 24 or
    25 bytes). Only the separators and the offset's hours and minutes are checked here: with them in place,
    pyarrow's ISO 8601 cast takes exactly what `TIME_PATTERN` takes (digits where digits belong, real dates and times;
    a test holds it to the regex), for a fraction of the regex's cost.
    """
    arr = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    n = len(arr)
    if n == 0 or arr.null_count or arr.type != pa.string():
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width not in _LAYOUTS or not (np.diff(offsets) == width).all():
        return None
    rows = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, width)
    for pos, allowed in _LAYOUTS[width].items():
        col = rows[:, pos]
        if not ((col == allowed[0]) | (col == allowed[-1])).all():
            return None
    if width >= 24:  # offset hours 00-14, minutes 00-59: pyarrow takes more
        digits = rows[:, 20:].astype(np.int16) - ord("0")
        minutes_tens = digits[:, 2 if width == 24 else 3]
        if ((digits[:, 0] * 10 + digits[:, 1] > 14) | (minutes_tens > 5)).any():
            return None
    kind = pa.timestamp("us") if width == 19 else pa.timestamp("us", tz="UTC")
    try:
        times = pc.cast(arr, kind).to_numpy(zero_copy_only=False).astype("datetime64[us]")
    except pa.ArrowInvalid:
        return None
    return times, np.ones(n, dtype=bool), np.full(n, width == 19)


def _offset_minutes(offset: pa.ChunkedArray) -> np.ndarray:
    """Minutes east of UTC from '', 'Z', '+HH:MM' or '+HHMM' (0 for '' and 'Z')."""
    digits = pc.replace_substring(offset, ":", "")
    signed = pc.match_substring_regex(digits, r"^[+-]\d{4}$")
    hh = pc.if_else(signed, pc.utf8_slice_codeunits(digits, 1, 3), "0")
    mm = pc.if_else(signed, pc.utf8_slice_codeunits(digits, 3, 5), "0")
    minutes = np.asarray(pc.cast(hh, pa.int64())) * 60 + np.asarray(pc.cast(mm, pa.int64()))
    sign = np.where(np.asarray(pc.starts_with(digits, "-")), -1, 1)
    return sign * minutes

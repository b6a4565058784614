"""Observed time series for calibration: a frozen series and a reader for aggregated tables.

:func:`sts_dynamics.data.read_incidents` builds an :class:`IncidentSeries` by aggregating
incidents; :func:`read_series` reads one that is already aggregated (a time column plus value
columns), for example a file written by :meth:`IncidentSeries.to_frame`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from .errors import DataError, UnknownNameError, close_matches

__all__ = ["IncidentSeries", "read_series", "read_table", "TIME_UNITS"]

#: Length of each supported model time unit, in seconds (a year is 365.25 days).
TIME_UNITS: Mapping[str, float] = MappingProxyType(
    {"hour": 3600.0, "day": 86400.0, "week": 604800.0, "year": 365.25 * 86400.0}
)

#: Columns of :meth:`IncidentSeries.to_frame` that describe time rather than hold values.
RESERVED = ("date", "t", "t_start", "t_end", "exposure")


def _readonly(a: object, name: str) -> np.ndarray:
    try:
        arr = np.array(a, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"`{name}` must hold numbers, got {a!r:.60}.") from None
    if arr.ndim != 1:
        raise DataError(f"`{name}` must be 1-dimensional, got shape {arr.shape}.")
    arr.flags.writeable = False
    return arr


def check_time_unit(time_unit: str) -> float:
    """Seconds per ``time_unit``; raise :class:`DataError` for an unknown unit."""
    if time_unit not in TIME_UNITS:
        raise DataError(
            f"`time_unit` must be one of {', '.join(map(repr, TIME_UNITS))}, got {time_unit!r}."
        )
    return TIME_UNITS[time_unit]


@dataclass(frozen=True, eq=False)
class IncidentSeries:
    """Observed series on a common time axis, ready to compare with a simulation.

    Parameters
    ----------
    time : array_like, shape (n,)
        Observation times in ``time_unit`` since ``origin``, strictly increasing. For
        aggregated incidents this is the midpoint of each reporting interval.
    values : mapping of str to array_like
        The observed series, each of shape (n,); NaN marks a missing observation.
    t_start, t_end : array_like, shape (n,), optional
        The edges of each reporting interval (same unit as ``time``). Counts are compared
        with the model's cumulative stock differenced over these edges.
    date : pandas.DatetimeIndex, optional
        Calendar start of each period.
    origin : pandas.Timestamp, optional
        The calendar time at which ``time`` is 0.
    time_unit : {"hour", "day", "week", "year"}
        Unit of ``time``, ``t_start`` and ``t_end``.
    period : str, optional
        The pandas period alias used to aggregate (``"W"``: weeks starting on Monday).
    notes : tuple of str
        What the reader or the aggregation did that a user should know.

    Examples
    --------
    >>> s = IncidentSeries(time=[0.5, 1.5], values={"count": [3, 5]},
    ...                    t_start=[0, 1], t_end=[1, 2])
    >>> s["count"].tolist(), s.edges.tolist()
    ([3.0, 5.0], [0.0, 1.0, 2.0])
    """

    time: np.ndarray
    values: Mapping[str, np.ndarray]
    t_start: np.ndarray | None = None
    t_end: np.ndarray | None = None
    date: pd.DatetimeIndex | None = None
    origin: pd.Timestamp | None = None
    time_unit: str = "week"
    period: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_time_unit(self.time_unit)
        time = _readonly(self.time, "time")
        n = time.size
        if n == 0:
            raise DataError("`time` is empty: a series needs at least one observation.")
        if not np.all(np.isfinite(time)):
            raise DataError("`time` must be finite.")
        if np.any(np.diff(time) <= 0):
            i = int(np.argmax(np.diff(time) <= 0)) + 1
            raise DataError(f"`time` must be strictly increasing; row {i} is {time[i]} after "
                            f"{time[i - 1]}.")
        vals = {}
        for name, v in dict(self.values).items():
            arr = _readonly(v, f"values[{name!r}]")
            if arr.size != n:
                raise DataError(f"series {name!r} has {arr.size} values but `time` has {n}.")
            vals[str(name)] = arr
        if not vals:
            raise DataError("`values` is empty: a series needs at least one value column.")
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "values", MappingProxyType(vals))
        if (self.t_start is None) != (self.t_end is None):
            raise DataError("give both `t_start` and `t_end`, or neither.")
        if self.t_start is not None:
            lo, hi = _readonly(self.t_start, "t_start"), _readonly(self.t_end, "t_end")
            if lo.size != n or hi.size != n:
                raise DataError(f"`t_start` and `t_end` must have {n} values like `time`.")
            if np.any(~(hi > lo)):
                i = int(np.argmax(~(hi > lo)))
                raise DataError(f"`t_end` must be greater than `t_start`; row {i} has "
                                f"t_start={lo[i]} and t_end={hi[i]}.")
            object.__setattr__(self, "t_start", lo)
            object.__setattr__(self, "t_end", hi)
        if self.date is not None:
            date = pd.DatetimeIndex(self.date)
            if len(date) != n:
                raise DataError(f"`date` has {len(date)} values but `time` has {n}.")
            object.__setattr__(self, "date", date)
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self) -> int:
        return int(self.time.size)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise UnknownNameError(
                f"series {name!r} not found; the series are {', '.join(map(repr, self.names))}."
                + close_matches(name, self.names)
            ) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the value columns."""
        return tuple(self.values)

    @property
    def edges(self) -> np.ndarray:
        """Interval edges, shape (n + 1,), for contiguous reporting intervals.

        Raises :class:`DataError` when the series has no intervals or they have gaps.
        """
        if self.t_start is None or self.t_end is None:
            raise DataError("this series has no reporting intervals (`t_start`, `t_end`); "
                            "read it with `edges=\"start\"` or `edges=\"end\"` to define them.")
        if not np.allclose(self.t_start[1:], self.t_end[:-1], rtol=0, atol=1e-9):
            raise DataError("the reporting intervals are not contiguous; use `t_start` and "
                            "`t_end` instead of `edges`.")
        out = np.append(self.t_start, self.t_end[-1])
        out.flags.writeable = False
        return out

    def split(self, index: int) -> tuple[IncidentSeries, IncidentSeries]:
        """The first ``index`` observations and the rest (for hold-out validation).

        Examples
        --------
        >>> s = IncidentSeries(time=[0, 1, 2], values={"y": [1, 2, 3]})
        >>> [len(part) for part in s.split(2)]
        [2, 1]
        """
        n = len(self)
        if not 0 < index < n:
            raise DataError(f"`index` must be between 1 and {n - 1}, got {index}.")
        return self._take(slice(0, index)), self._take(slice(index, n))

    def _take(self, sl: slice) -> IncidentSeries:
        def cut(a):
            return None if a is None else a[sl]
        return IncidentSeries(
            time=self.time[sl], values={k: v[sl] for k, v in self.values.items()},
            t_start=cut(self.t_start), t_end=cut(self.t_end), date=cut(self.date),
            origin=self.origin, time_unit=self.time_unit, period=self.period, notes=self.notes,
        )

    def to_frame(self) -> pd.DataFrame:
        """A new DataFrame: ``date`` (if known), ``t``, ``t_start``, ``t_end``, ``exposure``
        (interval length) when intervals are known, then the value columns.

        Examples
        --------
        >>> IncidentSeries(time=[0.5], values={"count": [2]}, t_start=[0], t_end=[1]).to_frame()
             t  t_start  t_end  exposure  count
        0  0.5      0.0    1.0       1.0    2.0
        """
        cols: dict[str, object] = {}
        if self.date is not None:
            cols["date"] = self.date
        cols["t"] = self.time
        if self.t_start is not None and self.t_end is not None:
            cols["t_start"] = self.t_start
            cols["t_end"] = self.t_end
            cols["exposure"] = self.t_end - self.t_start
        cols.update(self.values)
        return pd.DataFrame({k: np.array(v) if isinstance(v, np.ndarray) else v
                             for k, v in cols.items()})


def read_table(path_or_frame: str | os.PathLike | pd.DataFrame, *, what: str,
               **read_csv_kw) -> tuple[pd.DataFrame, str]:
    """Return ``(frame, label)`` from a CSV/Parquet path or a DataFrame (copied)."""
    if isinstance(path_or_frame, pd.DataFrame):
        frame, label = path_or_frame.copy(), "<DataFrame>"
    elif isinstance(path_or_frame, str | os.PathLike):
        path = Path(path_or_frame)
        label = str(path)
        if not path.is_file():
            raise DataError(f"cannot read {what}: file {label!r} does not exist.")
        try:
            if path.suffix.lower() == ".parquet":
                frame = pd.read_parquet(path)
            else:
                frame = pd.read_csv(path, **read_csv_kw)
        except pd.errors.EmptyDataError:
            raise DataError(f"cannot read {what}: file {label!r} is empty.") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {what} from {label!r}: {exc}") from None
    else:
        raise DataError(f"`path_or_frame` must be a path or a pandas DataFrame, got "
                        f"{type(path_or_frame).__name__}.")
    if len(frame) == 0:
        raise DataError(f"{what} in {label} has no rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True), label


def check_columns(frame: pd.DataFrame, wanted: Sequence[str], label: str) -> None:
    """Raise :class:`DataError` naming missing columns and listing the columns found."""
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        hint = close_matches(missing[0], frame.columns)
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))} in {label}; columns found: "
            f"{', '.join(map(repr, frame.columns))}.{hint}"
        )


def _row_list(rows: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" and {rows.size - limit} more" if rows.size > limit else "")


def read_series(
    path_or_frame: str | os.PathLike | pd.DataFrame,
    *,
    time: str = "t",
    columns: Sequence[str] | None = None,
    time_unit: str = "week",
    origin: str | pd.Timestamp | None = None,
    edges: Literal["start", "end"] | None = None,
    tz: str = "UTC",
) -> IncidentSeries:
    """Read an aggregated series: a time column plus numeric value columns.

    Parameters
    ----------
    path_or_frame : path or DataFrame
        A CSV (or ``.parquet``) file, or a DataFrame.
    time : str
        The time column: numbers (model time in ``time_unit``) or calendar dates, which are
        converted to ``time_unit`` since ``origin``.
    columns : sequence of str, optional
        Value columns to read; by default every column except the time columns
        (``date``, ``t``, ``t_start``, ``t_end``, ``exposure``).
    time_unit : {"hour", "day", "week", "year"}
        Unit of the model time axis.
    origin : str or Timestamp, optional
        Calendar time of model time 0 when ``time`` holds dates; default the first date.
    edges : {"start", "end"}, optional
        When the table has no ``t_start``/``t_end`` columns: ``"start"`` means each time
        starts an interval that ends at the next time, ``"end"`` that each time ends one
        (the first and last intervals get the length of their neighbour).
    tz : str
        Time zone of dates written without one.

    Returns
    -------
    IncidentSeries

    Raises
    ------
    DataError
        Missing columns (the columns found are listed), unparsable or non-increasing times,
        non-numeric values (with row numbers), all-NaN columns, an empty table.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"week": [0, 1, 2], "incidents": [4, 2, 7]})
    >>> s = read_series(df, time="week", edges="start")
    >>> s.edges.tolist(), s["incidents"].tolist()
    ([0.0, 1.0, 2.0, 3.0], [4.0, 2.0, 7.0])
    """
    unit = check_time_unit(time_unit)
    frame, label = read_table(path_or_frame, what="series")
    check_columns(frame, [time, *(columns or [])], label)
    if columns is None:
        columns = [c for c in frame.columns if c != time and c not in RESERVED]
        if not columns:
            raise DataError(f"{label} has no value columns besides the time column {time!r}; "
                            f"columns found: {', '.join(map(repr, frame.columns))}.")
    notes: list[str] = []
    raw_t = frame[time]
    date = None
    origin_ts = None
    if pd.api.types.is_numeric_dtype(raw_t):
        t = raw_t.to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            raise DataError(f"time column {time!r} has missing values in rows {_row_list(bad)}.")
        if "date" in frame.columns:
            date = _parse_dates(frame["date"], "date", tz)
    else:
        date = _parse_dates(raw_t, time, tz)
        origin_ts = date[0] if origin is None else _to_timestamp(origin, tz)
        t = np.asarray((date - origin_ts) / pd.Timedelta(seconds=unit), dtype=float)
    values = {}
    for c in columns:
        num = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(num) & frame[c].notna().to_numpy())
        if bad.size:
            raise DataError(f"column {c!r} has non-numeric values in rows {_row_list(bad)} "
                            f"(first: {frame[c].iloc[bad[0]]!r}).")
        if np.all(np.isnan(num)):
            raise DataError(f"column {c!r} in {label} has no values (all missing).")
        values[c] = num
    t_start = t_end = None
    if "t_start" in frame.columns and "t_end" in frame.columns:
        t_start = frame["t_start"].to_numpy(dtype=float)
        t_end = frame["t_end"].to_numpy(dtype=float)
    elif edges is not None:
        if edges not in ("start", "end"):
            raise DataError(f"`edges` must be 'start', 'end' or None, got {edges!r}.")
        if t.size < 2:
            raise DataError("`edges` needs at least two times to infer interval lengths.")
        d = np.diff(t)
        if edges == "start":
            t_start, t_end = t, np.append(t[1:], t[-1] + d[-1])
        else:
            t_start, t_end = np.insert(t[:-1], 0, t[0] - d[0]), t
        notes.append(f"intervals inferred from {time!r} as interval {edges}s")
    return IncidentSeries(time=t, values=values, t_start=t_start, t_end=t_end, date=date,
                          origin=origin_ts, time_unit=time_unit, notes=tuple(notes))


def _to_timestamp(value: str | pd.Timestamp, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def _parse_dates(raw: pd.Series, name: str, tz: str) -> pd.DatetimeIndex:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert(tz)
    else:
        try:
            parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=False)
        except (ValueError, TypeError):  # mixed offsets: read every value as UTC
            parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=True)
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            raise DataError(f"column {name!r} has unparsable or missing dates in rows "
                            f"{_row_list(bad)} (first: {raw.iloc[bad[0]]!r}).")
        parsed = (parsed.dt.tz_localize(tz) if parsed.dt.tz is None
                  else parsed.dt.tz_convert(tz))
    return pd.DatetimeIndex(parsed)

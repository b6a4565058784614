"""Incident data: read, validate and aggregate to series.

:func:`read_incidents` reads a table with one row per incident (an opened time, optionally a
resolved time, a severity and a detection source), checks every row and returns an
:class:`IncidentData`. Rows that cannot be used are never dropped silently: they are kept in
:attr:`IncidentData.excluded` with the reason, counted in :meth:`IncidentData.report`, and a
:class:`~sts_dynamics.errors.DataWarning` says how many there were.
:meth:`IncidentData.weekly` and :meth:`IncidentData.aggregate` turn the incidents into an
:class:`~sts_dynamics.series.IncidentSeries` of counts and time-to-resolve quantiles.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning
from .series import IncidentSeries, check_columns, check_time_unit, read_series, read_table

__all__ = ["IncidentData", "IncidentSeries", "read_incidents", "read_series"]

# A time of day followed by a zone designator: "...12:00Z", "...12:00:00.000+00:00", "12:00 UTC".
_ZONE = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$", re.IGNORECASE
)

# Short codes of the checks, in the order the report lists them.
CHECKS = {
    "missing_opened": "missing opened time",
    "unparsable_opened": "unparsable opened time",
    "unparsable_resolved": "unparsable resolved time",
    "mixed_zones": "time without a zone among times with one",
    "nonexistent_time": "local time that does not exist or is ambiguous",
    "resolved_before_opened": "resolved before opened",
    "duplicate": "duplicate",
}


@dataclass(frozen=True, eq=False)
class IncidentData:
    """Validated incidents, and the rows that were excluded with the reason.

    Attributes
    ----------
    incidents : pandas.DataFrame
        One row per kept incident, sorted by opened time: ``row`` (0-based position in the
        input; in a CSV the first line after the header is row 0), ``opened`` and ``resolved``
        (tz-aware, in ``tz``; ``resolved`` is NaT for an unresolved incident), ``ttr_hours``
        (time to resolve), and ``severity``, ``source``, ``key`` when those columns were given.
    excluded : pandas.DataFrame
        The excluded rows: ``row``, ``check`` (a short code), ``reason`` (a sentence), then
        the row's original columns as read.
    n_rows : int
        Rows in the input.
    tz : str
        Time zone of the times, and of calendar periods when aggregating.
    label : str
        Where the data came from (a path, or ``"<DataFrame>"``).
    notes : tuple of str
        Things a user should know that did not exclude rows (unresolved incidents, several
        UTC offsets in one column).

    The frames are the object's own: treat them as read-only (``to_frame`` copies).
    """

    incidents: pd.DataFrame
    excluded: pd.DataFrame
    n_rows: int
    tz: str
    label: str
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.incidents)

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`incidents`."""
        return self.incidents.copy()

    def report(self) -> str:
        """A plain-text account of what was read, kept and excluded, and why.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"created_at": ["2024-01-01 10:00", "2024-01-02 09:00"],
        ...                    "resolved_at": ["2024-01-01 11:30", "2024-01-01 08:00"]})
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # the DataWarning about the excluded row
        ...     data = read_incidents(df)
        >>> print(data.report())  # doctest: +NORMALIZE_WHITESPACE
        Incident data: <DataFrame>
          rows read        2
          incidents kept   1  (2024-01-01 to 2024-01-01, UTC)
          unresolved       0
          excluded         1
        Excluded rows by reason
          resolved before opened: 1 (rows 1)
        """
        inc = self.incidents
        span = "none"
        if len(inc):
            span = (f"{inc['opened'].iloc[0]:%Y-%m-%d} to {inc['opened'].iloc[-1]:%Y-%m-%d}, "
                    f"{self.tz}")
        lines = [
            f"Incident data: {self.label}",
            f"  rows read        {self.n_rows}",
            f"  incidents kept   {len(inc)}  ({span})",
            f"  unresolved       {int(inc['resolved'].isna().sum())}",
            f"  excluded         {len(self.excluded)}",
        ]
        if len(self.excluded):
            lines.append("Excluded rows by reason")
            for code, text in CHECKS.items():
                rows = self.excluded.loc[self.excluded["check"] == code, "row"].to_numpy()
                if rows.size:
                    shown = ", ".join(map(str, rows[:10])) + (" ..." if rows.size > 10 else "")
                    lines.append(f"  {text}: {rows.size} (rows {shown})")
        if self.notes:
            lines.append("Notes")
            lines.extend(f"  {n}" for n in self.notes)
        return "\n".join(lines)

    def weekly(self, **kwargs) -> IncidentSeries:
        """Weekly series (weeks start on Monday 00:00 in :attr:`tz`); see :meth:`aggregate`."""
        return self.aggregate("W", **kwargs)

    def aggregate(
        self,
        period: str = "W",
        *,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        origin: str | pd.Timestamp | None = None,
        time_unit: str = "week",
        by: str | None = None,
    ) -> IncidentSeries:
        """Counts and time-to-resolve quantiles per calendar period.

        Parameters
        ----------
        period : str
            A pandas period alias: ``"D"``, ``"W"`` (weeks starting Monday), ``"M"``,
            ``"Q"``, ``"Y"``. Periods are calendar periods in :attr:`tz`.
        start, end : str or Timestamp, optional
            The observation window ``[start, end)``; incidents opened outside it are left
            out of the series (and counted in its notes). By default the window runs from
            the start of the first incident's period to the end of the last incident's
            period, which assumes that both end periods were observed in full. A window
            edge inside a period makes that period partial: its ``t_start``/``t_end`` (and
            ``exposure``) say so.
        origin : str or Timestamp, optional
            Calendar time of model time 0; default ``start`` (or the start of the first
            period).
        time_unit : {"hour", "day", "week", "year"}
            Unit of the time columns.
        by : {"severity", "source"}, optional
            Also count incidents per level of this column (``count_<level>`` columns).

        Returns
        -------
        IncidentSeries
            ``time`` is the midpoint of each (clipped) period; ``t_start``/``t_end`` its
            edges; ``date`` the calendar start of the period. Values: ``count`` (incidents
            opened in the period), ``n_resolved`` (of those, with a time to resolve),
            ``median_ttr_hours`` and ``p90_ttr_hours`` (quantiles with linear interpolation,
            numpy's default; NaN when no incident of the period is resolved). Incidents are
            assigned to the period in which they were opened; unresolved incidents count but
            have no time to resolve, so quantiles of recent periods are biased low.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"created_at": ["2024-01-01 10:00", "2024-01-03 12:00",
        ...                                   "2024-01-15 08:00"],
        ...                    "resolved_at": ["2024-01-01 11:00", "2024-01-03 15:00",
        ...                                    "2024-01-15 10:00"]})
        >>> s = read_incidents(df).weekly()
        >>> s.to_frame()[["date", "t", "count", "median_ttr_hours"]]
                               date    t  count  median_ttr_hours
        0 2024-01-01 00:00:00+00:00  0.5    2.0               2.0
        1 2024-01-08 00:00:00+00:00  1.5    0.0               NaN
        2 2024-01-15 00:00:00+00:00  2.5    1.0               2.0
        """
        unit = pd.Timedelta(seconds=check_time_unit(time_unit))
        inc = self.incidents
        try:
            pd.Period("2000-01-01", period)
        except (ValueError, TypeError):
            raise DataError(f"`period` must be a pandas period alias such as 'D', 'W', 'M', "
                            f"'Q' or 'Y', got {period!r}.") from None
        if by is not None and by not in inc.columns:
            raise DataError(f"`by` must name a column given to read_incidents ('severity' or "
                            f"'source'), got {by!r}; columns: {', '.join(inc.columns)}.")
        opened = inc["opened"]
        per = opened.dt.tz_localize(None).dt.to_period(period)
        lo = self._when(start, "start") if start is not None else _period_start(per.min(), self.tz)
        hi = self._when(end, "end") if end is not None else _period_start(per.max() + 1, self.tz)
        if not lo < hi:
            raise DataError(f"`start` must be before `end`, got start={lo} and end={hi}.")
        inside = ((opened >= lo) & (opened < hi)).to_numpy()
        if not inside.any():
            raise DataError(f"no incidents between {lo} and {hi}; the incidents span "
                            f"{opened.min()} to {opened.max()}.")
        notes = [f"{int((~inside).sum())} incident(s) opened outside [{lo}, {hi}) left out"
                 ] if not inside.all() else []
        per = per[inside]
        first = lo.tz_localize(None).to_period(period)
        last = (hi - pd.Timedelta(microseconds=1)).tz_localize(None).to_period(period)
        periods = pd.period_range(first, last, freq=period)
        p_lo = pd.DatetimeIndex([_period_start(p, self.tz) for p in periods])
        p_hi = pd.DatetimeIndex([_period_start(p + 1, self.tz) for p in periods])
        e_lo = np.maximum(p_lo, lo)
        e_hi = np.minimum(p_hi, hi)
        org = lo if origin is None else self._when(origin, "origin")
        t0 = np.asarray((e_lo - org) / unit, dtype=float)
        t1 = np.asarray((e_hi - org) / unit, dtype=float)
        ttr = inc.loc[inside, "ttr_hours"]
        grouped = ttr.groupby(per.to_numpy(), sort=True)
        values = {
            "count": per.value_counts().reindex(periods, fill_value=0).to_numpy(float),
            "n_resolved": grouped.count().reindex(periods, fill_value=0).to_numpy(float),
            "median_ttr_hours": grouped.median().reindex(periods).to_numpy(float),
            "p90_ttr_hours": grouped.quantile(0.9).reindex(periods).to_numpy(float),
        }
        if by is not None:
            level = inc.loc[inside, by].fillna("unknown").astype(str).to_numpy()
            for lev in sorted(set(level)):
                counts = per[level == lev].value_counts()
                values[f"count_{lev}"] = counts.reindex(periods, fill_value=0).to_numpy(float)
        return IncidentSeries(time=(t0 + t1) / 2, values=values, t_start=t0, t_end=t1,
                              date=p_lo, origin=org, time_unit=time_unit, period=period,
                              notes=tuple(notes))

    def _when(self, value: str | pd.Timestamp, name: str) -> pd.Timestamp:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise DataError(f"`{name}` must be a date, got {value!r}.") from None
        return ts.tz_localize(self.tz) if ts.tzinfo is None else ts.tz_convert(self.tz)


def _period_start(p: pd.Period, tz: str) -> pd.Timestamp:
    return p.start_time.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def _parse_times(raw: pd.Series, tz: str, date_format: str | None
                 ) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Parse a column of times into ``tz``.

    Returns the parsed times (NaT where missing or bad), a series of problem codes (``""``
    for none, ``"missing"``, ``"unparsable"``, ``"mixed_zones"``, ``"nonexistent_time"``)
    and notes.
    """
    n = len(raw)
    problem = np.full(n, "", dtype=object)
    notes: list[str] = []
    if pd.api.types.is_datetime64_any_dtype(raw):
        missing = raw.isna().to_numpy()
        if raw.dt.tz is not None:
            parsed = raw.dt.tz_convert(tz)
        else:
            parsed = raw.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            problem[parsed.isna().to_numpy() & ~missing] = "nonexistent_time"
        problem[missing] = "missing"
        return parsed, problem, notes
    text = raw.astype(object).where(raw.notna(), None)
    text = pd.Series([None if v is None else str(v).strip() for v in text], dtype=object,
                     index=pd.RangeIndex(n))
    missing = np.array([v is None or v == "" for v in text])
    zone = np.array([None if v is None else _zone(v) for v in text], dtype=object)
    aware = np.array([z is not None for z in zone]) & ~missing
    naive = ~aware & ~missing
    fmt = date_format or "ISO8601"
    pieces = []
    bad = np.zeros(n, dtype=bool)
    for mask, zoned in ((aware, True), (naive, False)):
        if not mask.any():
            continue
        sub = text[mask]
        if zoned:  # "12:00 UTC" -> "12:00+00:00", which ISO 8601 parsing accepts
            sub = sub.str.replace(r"\s*(?:UTC|GMT)\s*$", "+00:00", regex=True, case=False)
        try:
            got = pd.to_datetime(sub, format=fmt, errors="coerce", utc=zoned)
        except (ValueError, TypeError) as exc:
            raise DataError(f"cannot parse times with format {fmt!r}: {exc}") from None
        where = np.flatnonzero(mask)
        if got.dt.tz is None:
            ok = got.notna().to_numpy()
            got = got.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            problem[where[got.isna().to_numpy() & ok]] = "nonexistent_time"
            bad[where[~ok]] = True
        else:
            got = got.dt.tz_convert(tz)
            bad[where[got.isna().to_numpy()]] = True
        pieces.append(got.dt.as_unit("us"))
    if pieces:
        parsed = pd.concat(pieces).reindex(text.index)
    else:
        parsed = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[us, {tz}]")
    problem[bad] = "unparsable"
    problem[missing] = "missing"
    if aware.any() and naive.any():
        problem[naive & ~bad & (problem == "")] = "mixed_zones"
    offsets = sorted({_norm_offset(z) for z in zone[aware]})
    if len(offsets) > 1:
        notes.append(f"{len(offsets)} different UTC offsets ({', '.join(offsets[:5])}); "
                     f"all converted to {tz}")
    return parsed, problem, notes


def _zone(text: str) -> str | None:
    m = _ZONE.search(text)
    return m.group(1) if m else None


def _norm_offset(z: str) -> str:
    z = z.upper()
    if z in ("Z", "UTC", "GMT"):
        return "+00:00"
    digits = z[1:].replace(":", "")
    return f"{z[0]}{digits[:2]}:{(digits[2:] or '00')}"


def read_incidents(
    path_or_frame: str | os.PathLike | pd.DataFrame,
    *,
    opened: str = "created_at",
    resolved: str | None = "resolved_at",
    severity: str | None = None,
    source: str | None = None,
    key: str | None = None,
    tz: str = "UTC",
    date_format: str | None = None,
    on_invalid: Literal["exclude", "raise"] = "exclude",
) -> IncidentData:
    """Read and validate a table of incidents, one row per incident.

    Parameters
    ----------
    path_or_frame : path or DataFrame
        A CSV (or ``.parquet``) file, or a DataFrame.
    opened : str
        Column of the times incidents were opened (detected/declared).
    resolved : str or None
        Column of the times incidents were resolved; an empty value is an unresolved
        incident (counted, without a time to resolve). ``None``: no such column.
    severity, source : str, optional
        Columns of severity and detection source, kept as text.
    key : str, optional
        Column that identifies an incident: a repeated key is a duplicate. Without it, a row
        that repeats another row in every column is a duplicate.
    tz : str
        Time zone of times written without one, and of the result (calendar periods are
        taken in this zone). Times with a UTC offset are converted to it.
    date_format : str, optional
        A ``strftime`` format for the times, or ``"mixed"`` to guess per value. Default
        ISO 8601 (``2024-01-31 12:00``, ``2024-01-31T12:00:00Z`` ...), strictly, so that
        day and month are never swapped by a guess.
    on_invalid : {"exclude", "raise"}
        What to do with rows that fail a check: exclude them (kept in
        :attr:`IncidentData.excluded` with the reason, and a
        :class:`~sts_dynamics.errors.DataWarning`) or raise :class:`DataError` listing them.

    Returns
    -------
    IncidentData

    Raises
    ------
    DataError
        A missing file or missing columns (the columns found are listed), an empty table,
        no valid incident left, or, with ``on_invalid="raise"``, any row failing a check.

    Notes
    -----
    Checks, each row's reasons joined with ``"; "``: missing or unparsable opened time;
    unparsable resolved time; a time without a zone in a column where other times carry
    one (its zone is unknown); a local time that does not exist or is ambiguous (daylight
    saving); resolved before opened; duplicates (the first occurrence is kept).

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> df = pd.DataFrame({"created_at": ["2024-01-01 10:00", "not a date"],
    ...                    "resolved_at": ["2024-01-01 11:30", "2024-01-02 09:00"]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     data = read_incidents(df)
    >>> len(data), data.excluded[["row", "reason"]].to_dict("records")
    (1, [{'row': 1, 'reason': "unparsable opened time 'not a date'"}])
    >>> data.incidents["ttr_hours"].tolist()
    [1.5]
    """
    if on_invalid not in ("exclude", "raise"):
        raise DataError(f"`on_invalid` must be 'exclude' or 'raise', got {on_invalid!r}.")
    frame, label = read_table(path_or_frame, what="incidents", dtype=str)
    optional = {"severity": severity, "source": source, "key": key}
    check_columns(frame, [c for c in (opened, resolved, *optional.values()) if c], label)
    n = len(frame)
    rows = np.arange(n)
    t_open, p_open, notes_open = _parse_times(frame[opened], tz, date_format)
    notes = [f"opened times: {m}" for m in notes_open]
    reasons: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    messages = {"missing": "missing opened time",
                "unparsable": "unparsable opened time {v!r}",
                "mixed_zones": "opened time {v!r} has no time zone while other rows have one",
                "nonexistent_time": "opened time {v!r} does not exist or is ambiguous in {tz}"}
    for i in np.flatnonzero(p_open != ""):
        code = p_open[i]
        reasons[i].append((code if code != "missing" and code != "unparsable" else
                           f"{code}_opened",
                           messages[code].format(v=frame[opened].iloc[i], tz=tz)))
    if resolved is not None:
        t_res, p_res, notes_res = _parse_times(frame[resolved], tz, date_format)
        notes += [f"resolved times: {m}" for m in notes_res]
        for i in np.flatnonzero((p_res != "") & (p_res != "missing")):
            code = p_res[i]
            text = messages[code].replace("opened", "resolved")
            reasons[i].append(("unparsable_resolved" if code == "unparsable" else code,
                               text.format(v=frame[resolved].iloc[i], tz=tz)))
        ttr = ((t_res - t_open) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
        for i in np.flatnonzero(ttr < 0):
            reasons[i].append(("resolved_before_opened",
                               f"resolved before opened ({-ttr[i]:.4g} hours earlier)"))
    else:
        t_res = pd.Series(pd.NaT, index=frame.index, dtype=t_open.dtype)
        ttr = np.full(n, np.nan)
    ok = np.array([not r for r in reasons])
    dup_cols = [key] if key else list(frame.columns)
    cand = frame.loc[ok, dup_cols]
    if key:
        cand = cand[cand[key].notna()]
    group = cand.groupby(dup_cols if len(dup_cols) > 1 else dup_cols[0], dropna=False,
                         sort=False).ngroup()
    first = group.index.to_series().groupby(group.to_numpy()).transform("min").to_numpy()
    for i, f in zip(cand.index, first, strict=True):
        if i != f:
            what = f"key {frame[key].iloc[i]!r}" if key else "every column"
            reasons[i].append(("duplicate", f"duplicate of row {f} ({what})"))
    bad = np.flatnonzero([bool(r) for r in reasons])
    if bad.size and on_invalid == "raise":
        shown = "; ".join(f"row {i}: {', '.join(m for _, m in reasons[i])}" for i in bad[:10])
        more = f"; and {bad.size - 10} more rows" if bad.size > 10 else ""
        raise DataError(f"{bad.size} of {n} rows of {label} fail checks: {shown}{more}.")
    if bad.size == n:
        raise DataError(f"no valid incidents in {label}: all {n} rows fail checks (row 0: "
                        f"{reasons[0][0][1]}).")
    excluded = pd.DataFrame({
        "row": bad,
        "check": [reasons[i][0][0] for i in bad],
        "reason": ["; ".join(m for _, m in reasons[i]) for i in bad],
    })
    excluded = pd.concat([excluded, frame.iloc[bad].reset_index(drop=True)
                          .drop(columns=["row", "check", "reason"], errors="ignore")], axis=1)
    keep = np.setdiff1d(rows, bad)
    inc = pd.DataFrame({"row": keep,
                        "opened": t_open.iloc[keep].reset_index(drop=True),
                        "resolved": t_res.iloc[keep].reset_index(drop=True),
                        "ttr_hours": ttr[keep]})
    for name, col in optional.items():
        if col:
            inc[name] = frame[col].iloc[keep].to_numpy()
    inc = inc.sort_values(["opened", "row"], kind="stable").reset_index(drop=True)
    n_open = int(inc["resolved"].isna().sum())
    if resolved is not None and n_open:
        notes.append(f"{n_open} unresolved incident(s) counted without a time to resolve")
    if bad.size:
        by = pd.Series([reasons[i][0][0] for i in bad]).value_counts()
        summary = ", ".join(f"{CHECKS[c]}: {k}" for c, k in by.items())
        warnings.warn(f"{bad.size} of {n} rows of {label} excluded ({summary}); see "
                      f".excluded and .report().", DataWarning, stacklevel=2)
    return IncidentData(incidents=inc, excluded=excluded, n_rows=n, tz=tz, label=label,
                        notes=tuple(notes))

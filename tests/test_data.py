"""Incident data: reading, validation (nothing dropped silently), aggregation, aggregated
series, the shipped calibration data, and the figures published for the real data sets."""

import doctest
import importlib
import importlib.util
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sts_dynamics.data import IncidentSeries, read_incidents, read_series
from sts_dynamics.errors import DataError, DataWarning, UnknownNameError

REPO = Path(__file__).resolve().parents[1]
CAL_DATA = REPO / "calibration" / "data"
SHARED = Path(os.environ.get("STS_SHARED", REPO.parent / "shared"))
GITHUB_FLAT = SHARED / "data" / "github_incident_history" / "github_incidents_flat.csv"
needs_shared = pytest.mark.skipif(not GITHUB_FLAT.is_file(),
                                  reason="the shared raw data (../shared/data) is not present")


def frame(opened, resolved=None, **extra):
    cols = {"created_at": opened}
    if resolved is not None:
        cols["resolved_at"] = resolved
    cols.update(extra)
    return pd.DataFrame(cols)


def read_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_incidents(*args, **kwargs)


# ---------------------------------------------------------------- reading
def test_reads_frame_and_csv_alike(tmp_path):
    df = frame(["2024-01-02 10:00", "2024-01-01 09:00:00", "2024-01-03T08:00:00"],
               ["2024-01-02 12:30", "2024-01-01 10:00", "2024-01-03T08:15:00"],
               sev=["minor", "major", "minor"], det=["alert", "customer", "alert"])
    path = tmp_path / "inc.csv"
    df.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean table warns about nothing
        a = read_incidents(df, severity="sev", source="det")
        b = read_incidents(path, severity="sev", source="det")
    assert a.label == "<DataFrame>" and b.label == str(path)
    pd.testing.assert_frame_equal(a.incidents, b.incidents)
    assert a.incidents["ttr_hours"].tolist() == [1.0, 2.5, 0.25]
    assert a.incidents["severity"].tolist() == ["major", "minor", "minor"]
    assert list(a.incidents.columns) == ["row", "opened", "resolved", "ttr_hours", "severity",
                                         "source"]
    assert str(a.incidents["opened"].dt.tz) == "UTC"
    assert len(a.excluded) == 0 and a.notes == ()


def test_incidents_are_sorted_and_keep_their_row_numbers():
    d = read_incidents(frame(["2024-01-03 00:00", "2024-01-01 00:00", "2024-01-02 00:00"],
                             ["2024-01-03 01:00", "2024-01-01 02:00", "2024-01-02 03:00"]))
    assert d.incidents["row"].tolist() == [1, 2, 0]
    assert d.incidents["ttr_hours"].tolist() == [2.0, 3.0, 1.0]
    assert d.to_frame() is not d.incidents


def test_missing_columns_list_the_columns_found():
    df = pd.DataFrame({"created": ["2024-01-01"], "resolved_at": ["2024-01-02"]})
    with pytest.raises(DataError, match=r"missing column\(s\) 'created_at' in <DataFrame>; "
                                        r"columns found: 'created', 'resolved_at'\. Did you "
                                        r"mean 'created'"):
        read_incidents(df)
    with pytest.raises(DataError, match=r"missing column\(s\) 'impact', 'who'"):
        read_incidents(frame(["2024-01-01"], ["2024-01-02"]), severity="impact", source="who")


def test_unreadable_inputs(tmp_path):
    with pytest.raises(DataError, match=r"cannot read incidents: file '.*nope.csv' does not "
                                        r"exist"):
        read_incidents(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"cannot read incidents: file '.*empty.csv' is empty"):
        read_incidents(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("created_at,resolved_at\n")
    with pytest.raises(DataError, match=r"incidents in .*header.csv has no rows"):
        read_incidents(tmp_path / "header.csv")
    with pytest.raises(DataError, match=r"`path_or_frame` must be a path or a pandas DataFrame, "
                                        r"got list"):
        read_incidents([1, 2])
    with pytest.raises(DataError, match=r"`on_invalid` must be 'exclude' or 'raise', got 'drop'"):
        read_incidents(frame(["2024-01-01"]), on_invalid="drop")


# ---------------------------------------------------------------- validation
def test_unparsable_dates_are_excluded_with_row_numbers_and_a_warning():
    df = frame(["2024-01-01 10:00", "yesterday", "2024-01-02 10:00", "2024-13-45 10:00"],
               ["2024-01-01 11:00", "2024-01-01 12:00", "soon", "2024-01-03 10:00"])
    with pytest.warns(DataWarning, match=r"3 of 4 rows of <DataFrame> excluded \(unparsable "
                                         r"opened time: 2, unparsable resolved time: 1\); see "
                                         r"\.excluded and \.report\(\)"):
        d = read_incidents(df)
    assert len(d) == 1
    ex = d.excluded
    assert ex["row"].tolist() == [1, 2, 3]
    assert ex["reason"].tolist() == ["unparsable opened time 'yesterday'",
                                     "unparsable resolved time 'soon'",
                                     "unparsable opened time '2024-13-45 10:00'"]
    assert ex["created_at"].tolist() == ["yesterday", "2024-01-02 10:00", "2024-13-45 10:00"]
    with pytest.raises(DataError, match=r"3 of 4 rows of <DataFrame> fail checks: row 1: "
                                        r"unparsable opened time 'yesterday'; row 2: unparsable "
                                        r"resolved time 'soon'; row 3"):
        read_incidents(df, on_invalid="raise")


def test_missing_opened_time_is_excluded_and_missing_resolved_is_unresolved():
    df = frame(["2024-01-01 10:00", None, "2024-01-02 10:00", " "],
               ["2024-01-01 11:00", "2024-01-02 12:00", None, "2024-01-05 00:00"])
    d = read_quiet(df)
    assert d.excluded["reason"].tolist() == ["missing opened time"] * 2
    assert len(d) == 2
    assert d.incidents["resolved"].isna().tolist() == [False, True]
    assert math.isnan(d.incidents["ttr_hours"].iloc[1])
    assert "1 unresolved incident(s) counted without a time to resolve" in d.notes
    assert "unresolved       1" in d.report()


def test_resolved_before_opened():
    df = frame(["2024-01-01 10:00", "2024-01-02 10:00"], ["2024-01-01 08:00", "2024-01-02 11:00"])
    with pytest.warns(DataWarning, match=r"1 of 2 rows .* excluded \(resolved before opened: 1\)"):
        d = read_incidents(df)
    assert d.excluded["reason"].tolist() == ["resolved before opened (2 hours earlier)"]
    with pytest.raises(DataError, match=r"row 0: resolved before opened \(2 hours earlier\)"):
        read_incidents(df, on_invalid="raise")


def test_duplicates_by_row_and_by_key():
    df = frame(["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-03 10:00"],
               ["2024-01-01 11:00", "2024-01-01 11:00", "2024-01-01 12:00", "2024-01-03 11:00"],
               id=["a", "a", "b", "a"])
    d = read_quiet(df.drop(columns="id"))
    assert d.excluded["reason"].tolist() == ["duplicate of row 0 (every column)"]
    d = read_quiet(df, key="id")
    assert d.excluded["row"].tolist() == [1, 3]
    assert d.excluded["reason"].tolist() == ["duplicate of row 0 (key 'a')"] * 2
    assert d.incidents["key"].tolist() == ["a", "b"]
    # a row excluded for another reason is not the "first" of a duplicate group
    df2 = frame(["bad", "2024-01-01 10:00"], ["2024-01-01 11:00", "2024-01-01 11:00"],
                id=["a", "a"])
    assert read_quiet(df2, key="id").excluded["check"].tolist() == ["unparsable_opened"]


def test_time_zones_offsets_are_converted_and_naive_among_zoned_is_excluded():
    df = frame(["2024-01-01 05:00-05:00", "2024-01-01 10:00Z", "2024-01-01 12:00",
                "2024-01-01 11:00:00 UTC"],
               ["2024-01-01 11:00+00:00", "2024-01-01 11:00+00:00", "2024-01-01 13:00+00:00",
                "2024-01-01 12:00+01:00"])
    with pytest.warns(DataWarning, match=r"time without a zone among times with one: 1"):
        d = read_incidents(df)
    assert d.excluded["reason"].tolist() == [
        "opened time '2024-01-01 12:00' has no time zone while other rows have one"]
    opened = d.incidents.sort_values("row")["opened"]
    assert opened.tolist() == [pd.Timestamp("2024-01-01 10:00", tz="UTC")] * 2 + [
        pd.Timestamp("2024-01-01 11:00", tz="UTC")]
    assert d.incidents.sort_values("row")["ttr_hours"].tolist() == [1.0, 1.0, 0.0]
    assert any("2 different UTC offsets (+00:00, -05:00); all converted to UTC" in n
               for n in d.notes)
    assert "Notes" in d.report()


def test_local_time_zone_and_daylight_saving_gap():
    df = frame(["2024-03-10 01:30", "2024-03-10 02:30", "2024-03-11 00:30"],
               ["2024-03-10 03:30", "2024-03-10 04:00", "2024-03-11 01:30"])
    with pytest.warns(DataWarning, match=r"local time that does not exist or is ambiguous: 1"):
        d = read_incidents(df, tz="America/New_York")
    assert d.excluded["reason"].tolist() == [
        "opened time '2024-03-10 02:30' does not exist or is ambiguous in America/New_York"]
    # 01:30 EST to 03:30 EDT is one hour
    assert d.incidents["ttr_hours"].tolist() == [1.0, 1.0]
    assert str(d.incidents["opened"].dt.tz) == "America/New_York"
    s = d.aggregate("D", time_unit="day")
    assert s.date[0] == pd.Timestamp("2024-03-10", tz="America/New_York")
    # the day of the switch to daylight saving lasts 23 hours
    assert s.t_end[0] - s.t_start[0] == pytest.approx(23 / 24)


def test_datetime_columns_and_custom_format():
    aware = pd.to_datetime(pd.Series(["2024-01-01 10:00", "2024-01-02 10:00"])).dt.tz_localize(
        "Europe/Berlin")
    d = read_incidents(pd.DataFrame({"created_at": aware,
                                     "resolved_at": aware + pd.Timedelta(hours=2)}))
    assert d.incidents["opened"].iloc[0] == pd.Timestamp("2024-01-01 09:00", tz="UTC")
    naive = pd.to_datetime(pd.Series(["2024-01-01 10:00", None]))
    d = read_quiet(pd.DataFrame({"created_at": naive, "resolved_at": naive}))
    assert d.excluded["reason"].tolist() == ["missing opened time"]
    d = read_incidents(frame(["05/02/2024 10:00"], ["05/02/2024 12:00"]),
                       date_format="%d/%m/%Y %H:%M")
    assert d.incidents["opened"].iloc[0] == pd.Timestamp("2024-02-05 10:00", tz="UTC")


def test_no_resolved_column_and_all_rows_invalid():
    d = read_incidents(frame(["2024-01-01 10:00", "2024-01-08 10:00"]), resolved=None)
    assert d.incidents["resolved"].isna().all() and d.notes == ()
    s = d.weekly()
    assert s["count"].tolist() == [1.0, 1.0] and np.isnan(s["median_ttr_hours"]).all()
    with pytest.raises(DataError, match=r"no valid incidents in <DataFrame>: all 2 rows fail "
                                        r"checks \(row 0: unparsable opened time 'x'\)"):
        read_incidents(frame(["x", "y"], ["2024-01-01", "2024-01-01"]))


def test_report_lists_exclusions_by_reason():
    df = frame(["2024-01-01 10:00", "x", "2024-01-02 10:00", "2024-01-02 10:00"],
               ["2024-01-01 11:00", "2024-01-01 11:00", "2024-01-01 00:00", "2024-01-02 12:00"])
    text = read_quiet(df).report()
    assert text.splitlines()[0] == "Incident data: <DataFrame>"
    assert "rows read        4" in text
    assert "incidents kept   2  (2024-01-01 to 2024-01-02, UTC)" in text
    assert "unparsable opened time: 1 (rows 1)" in text
    assert "resolved before opened: 1 (rows 2)" in text


# ---------------------------------------------------------------- aggregation
def _weekly_data():
    # Monday 2024-01-01 .. : two incidents in week 0, none in week 1, three in week 2
    return read_incidents(frame(
        ["2024-01-01 10:00", "2024-01-07 23:00", "2024-01-15 00:00", "2024-01-16 12:00",
         "2024-01-21 12:00"],
        ["2024-01-01 11:00", "2024-01-08 02:00", "2024-01-15 04:00", None,
         "2024-01-21 13:00"],
        sev=["minor", "major", "minor", "minor", None]), severity="sev")


def test_weekly_counts_quantiles_and_zero_weeks():
    s = _weekly_data().weekly()
    f = s.to_frame()
    assert f["date"].tolist() == [pd.Timestamp(x, tz="UTC")
                                  for x in ("2024-01-01", "2024-01-08", "2024-01-15")]
    assert f["count"].tolist() == [2.0, 0.0, 3.0]
    assert f["n_resolved"].tolist() == [2.0, 0.0, 2.0]
    np.testing.assert_allclose(f["median_ttr_hours"], [2.0, np.nan, 2.5])
    # p90 with linear interpolation of (1, 3) and (1, 4)
    np.testing.assert_allclose(f["p90_ttr_hours"], [1 + 0.9 * 2, np.nan, 1 + 0.9 * 3])
    assert s.edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert s.time.tolist() == [0.5, 1.5, 2.5]
    assert s.origin == pd.Timestamp("2024-01-01", tz="UTC")
    assert s.period == "W" and s.time_unit == "week"


def test_aggregate_window_clips_edges_and_notes_what_it_left_out():
    s = _weekly_data().aggregate("W", start="2024-01-03", end="2024-01-17 12:00")
    assert s["count"].tolist() == [1.0, 0.0, 2.0]
    np.testing.assert_allclose(s.t_start, [0.0, 5 / 7, 12 / 7])
    np.testing.assert_allclose(s.t_end, [5 / 7, 12 / 7, 14.5 / 7])
    assert s.notes == ("2 incident(s) opened outside [2024-01-03 00:00:00+00:00, 2024-01-17 "
                       "12:00:00+00:00) left out",)
    s2 = _weekly_data().aggregate("W", origin="2023-12-25", time_unit="day")
    assert s2.t_start.tolist() == [7.0, 14.0, 21.0]


def test_aggregate_by_severity_and_month():
    s = _weekly_data().weekly(by="severity")
    assert s["count_minor"].tolist() == [1.0, 0.0, 2.0]
    assert s["count_major"].tolist() == [1.0, 0.0, 0.0]
    assert s["count_unknown"].tolist() == [0.0, 0.0, 1.0]
    m = _weekly_data().aggregate("M")
    assert m["count"].tolist() == [5.0]
    assert m.t_end[0] == pytest.approx(31 / 7)


def test_aggregate_errors():
    d = _weekly_data()
    with pytest.raises(DataError, match=r"`period` must be a pandas period alias such as 'D', "
                                        r"'W', 'M', 'Q' or 'Y', got 'fortnight'"):
        d.aggregate("fortnight")
    with pytest.raises(DataError, match=r"`start` must be before `end`, got start=2024-02-01 "
                                        r"00:00:00\+00:00 and end=2024-01-01"):
        d.aggregate(start="2024-02-01", end="2024-01-01")
    with pytest.raises(DataError, match=r"no incidents between 2025-01-01 00:00:00\+00:00 and "
                                        r"2025-02-01 00:00:00\+00:00; the incidents span"):
        d.aggregate(start="2025-01-01", end="2025-02-01")
    with pytest.raises(DataError, match=r"`by` must name a column given to read_incidents "
                                        r"\('severity' or 'source'\), got 'source'"):
        d.aggregate(by="source")
    with pytest.raises(DataError, match=r"`time_unit` must be one of 'hour', 'day', 'week', "
                                        r"'year', got 'month'"):
        d.aggregate(time_unit="month")
    with pytest.raises(DataError, match=r"`start` must be a date, got 'soon'"):
        d.aggregate(start="soon")


# ---------------------------------------------------------------- series
def test_series_round_trip_through_csv(tmp_path):
    s = _weekly_data().weekly(by="severity")
    path = tmp_path / "weekly.csv"
    s.to_frame().to_csv(path, index=False)
    r = read_series(path)
    assert r.names == s.names
    np.testing.assert_array_equal(r.time, s.time)
    np.testing.assert_array_equal(r.edges, s.edges)
    np.testing.assert_array_equal(r["median_ttr_hours"], s["median_ttr_hours"])
    assert (r.date == s.date).all()
    sub = read_series(path, columns=["count"])
    assert sub.names == ("count",)


def test_series_is_frozen_and_read_only():
    s = _weekly_data().weekly()
    with pytest.raises(ValueError, match="read-only"):
        s["count"][0] = 99
    with pytest.raises(AttributeError):
        s.time = np.zeros(3)


def test_series_split_and_lookup():
    s = _weekly_data().weekly()
    fit, rest = s.split(2)
    assert len(fit) == 2 and len(rest) == 1
    assert rest.edges.tolist() == [2.0, 3.0] and rest.date[0] == s.date[2]
    with pytest.raises(UnknownNameError, match=r"series 'counts' not found; the series are "
                                               r"'count', .* Did you mean 'count'\?"):
        s["counts"]
    with pytest.raises(DataError, match=r"`index` must be between 1 and 2, got 3"):
        s.split(3)


def test_read_series_numeric_time_with_inferred_edges():
    df = pd.DataFrame({"week": [0.0, 1.0, 2.0], "incidents": [4, 2, 7], "ttr": [1.5, None, 2]})
    s = read_series(df, time="week", edges="start")
    assert s.edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.isnan(s["ttr"][1])
    e = read_series(df, time="week", edges="end")
    assert e.edges.tolist() == [-1.0, 0.0, 1.0, 2.0]
    assert any("intervals inferred" in n for n in s.notes)
    with pytest.raises(DataError, match=r"this series has no reporting intervals"):
        _ = read_series(df, time="week").edges


def test_read_series_dates_become_model_time():
    df = pd.DataFrame({"month": ["2024-01-01", "2024-01-15", "2024-01-29"], "y": [1, 2, 3]})
    s = read_series(df, time="month", time_unit="day")
    assert s.time.tolist() == [0.0, 14.0, 28.0]
    assert s.origin == pd.Timestamp("2024-01-01", tz="UTC")
    s = read_series(df, time="month", origin="2023-12-31")
    assert s.time[0] == pytest.approx(1 / 7)


def test_read_series_errors():
    df = pd.DataFrame({"t": [0.0, 1.0, 2.0], "y": [1, "x", 3], "z": [None, None, None],
                       "w": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"missing column\(s\) 'week' in <DataFrame>; columns "
                                        r"found: 't', 'y', 'z', 'w'"):
        read_series(df, time="week")
    with pytest.raises(DataError, match=r"column 'y' has non-numeric values in rows 1 "
                                        r"\(first: 'x'\)"):
        read_series(df, columns=["y"])
    with pytest.raises(DataError, match=r"column 'z' in <DataFrame> has no values \(all "
                                        r"missing\)"):
        read_series(df, columns=["z"])
    with pytest.raises(DataError, match=r"`time` must be strictly increasing; row 2 is 1.0 after "
                                        r"1.0"):
        read_series(pd.DataFrame({"t": [0.0, 1.0, 1.0], "y": [1, 2, 3]}))
    with pytest.raises(DataError, match=r"time column 't' has missing values in rows 1"):
        read_series(pd.DataFrame({"t": [0.0, None, 1.0], "y": [1, 2, 3]}))
    with pytest.raises(DataError, match=r"column 'd' has unparsable or missing dates in rows 1 "
                                        r"\(first: 'later'\)"):
        read_series(pd.DataFrame({"d": ["2024-01-01", "later"], "y": [1, 2]}), time="d")
    with pytest.raises(DataError, match=r"has no value columns besides the time column 't'"):
        read_series(pd.DataFrame({"t": [0.0, 1.0], "exposure": [1.0, 1.0]}))
    with pytest.raises(DataError, match=r"series in <DataFrame> has no rows"):
        read_series(pd.DataFrame({"t": [], "y": []}))
    with pytest.raises(DataError, match=r"`edges` must be 'start', 'end' or None, got 'mid'"):
        read_series(df, columns=["w"], edges="mid")
    with pytest.raises(DataError, match=r"`edges` needs at least two times"):
        read_series(pd.DataFrame({"t": [0.0], "y": [1.0]}), edges="start")


def test_incident_series_validation():
    with pytest.raises(DataError, match=r"`time` is empty"):
        IncidentSeries(time=[], values={"y": []})
    with pytest.raises(DataError, match=r"series 'y' has 1 values but `time` has 2"):
        IncidentSeries(time=[0, 1], values={"y": [1]})
    with pytest.raises(DataError, match=r"`values` is empty"):
        IncidentSeries(time=[0, 1], values={})
    with pytest.raises(DataError, match=r"give both `t_start` and `t_end`, or neither"):
        IncidentSeries(time=[0, 1], values={"y": [1, 2]}, t_start=[0, 1])
    with pytest.raises(DataError, match=r"`t_end` must be greater than `t_start`; row 1 has "
                                        r"t_start=1.0 and t_end=1.0"):
        IncidentSeries(time=[0, 1], values={"y": [1, 2]}, t_start=[0, 1], t_end=[1, 1])
    with pytest.raises(DataError, match=r"the reporting intervals are not contiguous"):
        _ = IncidentSeries(time=[0, 2], values={"y": [1, 2]}, t_start=[0, 2], t_end=[1, 3]).edges
    with pytest.raises(DataError, match=r"`values\['y'\]` must hold numbers"):
        IncidentSeries(time=[0, 1], values={"y": ["a", "b"]})
    with pytest.raises(DataError, match=r"`time_unit` must be one of"):
        IncidentSeries(time=[0, 1], values={"y": [1, 2]}, time_unit="fortnight")
    with pytest.raises(DataError, match=r"`time` must be finite"):
        IncidentSeries(time=[0, np.nan], values={"y": [1, 2]})
    with pytest.raises(DataError, match=r"`date` has 1 values but `time` has 2"):
        IncidentSeries(time=[0, 1], values={"y": [1, 2]},
                       date=pd.DatetimeIndex(["2024-01-01"]))


# ---------------------------------------------------------------- shipped data
def test_shipped_github_weekly_series():
    s = read_series(CAL_DATA / "github" / "weekly.csv")
    assert s.date[0] == pd.Timestamp("2018-12-31", tz="UTC")
    assert s.edges[0] == 0.0 and s.edges[1] == pytest.approx(6 / 7)
    assert len(s) == 248 and s["count"].sum() == 448
    full = s["count"][np.isclose(s.t_end - s.t_start, 1.0)]
    # external reference: weekly counts are over-dispersed, variance/mean about 1.6
    assert full.var(ddof=1) / full.mean() == pytest.approx(1.6, abs=0.1)
    sev = sum(s[n] for n in s.names if n.startswith("count_"))
    np.testing.assert_array_equal(sev, s["count"])
    assert "incidents/<id>.json" in (CAL_DATA / "github" / "PROVENANCE.md").read_text()


def test_shipped_kev_catalog_and_series():
    kev = CAL_DATA / "cisa_kev"
    assert "Creative Commons 0 1.0" in (kev / "LICENSE_CC0.txt").read_text()
    # external reference figures (shared data README): 1,404 rows; remediation window median
    # 21 days, 181 days for the 2021 back-catalogue
    adds = read_incidents(kev / "known_exploited_vulnerabilities.csv", opened="dateAdded",
                          resolved=None, key="cveID")
    assert adds.n_rows == 1404 and len(adds.excluded) == 0
    with pytest.warns(DataWarning, match=r"15 of 1404 rows .* excluded \(resolved before "
                                         r"opened: 15\)"):
        win = read_incidents(kev / "known_exploited_vulnerabilities.csv", opened="dateAdded",
                             resolved="dueDate", key="cveID")
    days = win.incidents["ttr_hours"] / 24
    assert np.median(days) == 21.0
    assert np.median(days[win.incidents["opened"].dt.year == 2021]) == 181.0
    monthly = read_series(kev / "monthly.csv")
    weekly = read_series(kev / "weekly.csv")
    assert monthly["count"].sum() == weekly["count"].sum() == 1404 - 3  # the snapshot day out
    assert monthly["n_with_window"].sum() == weekly["n_with_window"].sum()
    assert monthly["count"].max() == monthly["count"][0]  # the Nov 2021 back-catalogue spike


@needs_shared
def test_github_published_figures():
    # external reference values from ../shared/data/README.md
    d = read_incidents(GITHUB_FLAT, opened="created_at", resolved="resolved_at",
                       key="id", on_invalid="raise")
    assert d.n_rows == 1282 and len(d) == 1282
    inc = d.incidents
    year = inc["opened"].dt.year
    minutes = inc.loc[(year >= 2019) & (year <= 2023), "ttr_hours"] * 60
    assert np.median(minutes) == pytest.approx(63.5, abs=0.05)
    assert np.percentile(minutes, 90) == pytest.approx(235, abs=0.5)
    assert year[year >= 2019].value_counts().sort_index().tolist() == [40, 70, 86, 123, 131]
    weekly = d.weekly(start="2019-01-07", end="2023-10-02")["count"]
    assert weekly.var(ddof=1) / weekly.mean() == pytest.approx(1.6, abs=0.1)


@needs_shared
def test_make_data_reproduces_the_shipped_files(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_data", REPO / "calibration" /
                                                  "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    assert make_data.main(["--shared", str(SHARED), "--out", str(tmp_path)]) == 0
    shipped = sorted(p.relative_to(CAL_DATA) for p in CAL_DATA.rglob("*") if p.is_file())
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made == shipped
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (CAL_DATA / rel).read_bytes(), rel


@pytest.mark.parametrize("module", ["sts_dynamics.data", "sts_dynamics.series"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

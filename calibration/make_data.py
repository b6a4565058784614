"""Regenerate the calibration data in calibration/data/ from the shared raw data.

Run from the repository root:

    python calibration/make_data.py --shared ../shared

It reads ``<shared>/data/github_incident_history/github_incidents_flat.csv`` and
``<shared>/data/cisa_kev/known_exploited_vulnerabilities.csv`` with
:func:`sts_dynamics.data.read_incidents`, writes weekly (and, for the KEV catalog, monthly)
series with :meth:`IncidentSeries.to_frame`, copies the CC0 KEV catalog and its licence, and
writes a PROVENANCE.md beside each data set. The output is deterministic: running it twice
gives identical files. Only aggregates of the GitHub incident history are written, never the
incident texts.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from sts_dynamics.data import IncidentData, read_incidents
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sts_dynamics.data import IncidentData, read_incidents

COMMAND = "python calibration/make_data.py --shared ../shared"
FLOAT_FORMAT = "%.10g"

GITHUB = {
    "repo": "GitHub-Incident-History/GitHub-Incident-History",
    "commit": "8016f1caba3eafbaa88d63d4973a334fbb99aea4",
    "commit_date": "2023-10-06",
    "file": "data/github_incident_history/github_incidents_flat.csv",
    # Records before 2019 are back-filled stubs with zero duration; the snapshot ends
    # 2023-10-06, so the last full week starts 2023-09-25.
    "start": "2019-01-01",
    "end": "2023-10-02",
}
KEV = {
    "repo": "cisagov/kev-data",
    "commit": "eacf03ec6637cc7be6d3d4ed50785493da5126a2",
    "commit_date": "2025-08-25",
    "file": "data/cisa_kev/known_exploited_vulnerabilities.csv",
    "licence": "data/cisa_kev/LICENSE_CC0.txt",
    # The catalog opened 2021-11-03; the snapshot day (2025-08-25) may be incomplete.
    "start": "2021-11-03",
    "end": "2025-08-25",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def github_figures(data: IncidentData) -> dict[str, object]:
    """The figures published in the shared data README, recomputed."""
    inc = data.incidents
    year = inc["opened"].dt.year
    window = inc[(year >= 2019) & (year <= 2023)]
    minutes = window["ttr_hours"] * 60
    return {
        "n_2019_2023": len(window),
        "median_min": float(np.median(minutes)),
        "p90_min": float(np.percentile(minutes, 90)),
        "yearly": {int(y): int(n) for y, n in year[year >= 2019].value_counts().sort_index()
                   .items()},
    }


def make_github(shared: Path, out: Path) -> list[str]:
    src = shared / GITHUB["file"]
    data = read_incidents(src, opened="created_at", resolved="resolved_at",
                          severity="impact", key="id", on_invalid="raise")
    series = data.weekly(start=GITHUB["start"], end=GITHUB["end"], by="severity")
    frame = series.to_frame()
    out.mkdir(parents=True, exist_ok=True)
    write_csv(frame, out / "weekly.csv")
    figs = github_figures(data)
    full = frame[frame["exposure"] == 1.0]["count"]
    ratio = float(full.var() / full.mean())
    sev_cols = [c for c in frame.columns if c.startswith("count_")]
    yearly = ", ".join(str(v) for v in figs["yearly"].values())
    text = f"""# GitHub status-page incidents: weekly aggregates

`weekly.csv` is derived from the GitHub status-page incident history. It holds weekly
aggregates only (counts and time-to-resolve quantiles); the incident texts are not shipped.

## Source

| item | value |
|---|---|
| repository | `{GITHUB['repo']}` |
| commit | `{GITHUB['commit']}` ({GITHUB['commit_date']}) |
| raw files | `incidents/<id>.json` (Atlassian Statuspage v2), flattened to one row per incident |
| input | `../shared/{GITHUB['file']}`, sha256 `{sha256(src)}` |
| licence | the collection: The Unlicense; incident texts: GitHub's status page (not shipped) |

## Regenerate

```bash
{COMMAND}
```

(from the repository root; `calibration/make_data.py` reads the flat table with
`sts_dynamics.data.read_incidents(opened="created_at", resolved="resolved_at",
severity="impact", key="id")` and writes `.weekly(start="{GITHUB['start']}",
end="{GITHUB['end']}", by="severity").to_frame()`.)

## Contents

- Window: incidents opened in [{GITHUB['start']}, {GITHUB['end']}) UTC. Records before 2019
  are back-filled stubs with zero duration; the snapshot ends {GITHUB['commit_date']}, so the
  series stops at the last full week. {len(frame)} weeks, {int(frame['count'].sum())} incidents.
- Weeks start on Monday 00:00 UTC. The first week starts on {GITHUB['start']} (a Tuesday),
  so its exposure is 6/7 of a week.
- Columns: `date` (calendar start of the week), `t` (midpoint, weeks since the origin
  {GITHUB['start']} 00:00 UTC), `t_start`, `t_end` (interval edges, weeks since the origin),
  `exposure` (weeks observed), `count` (incidents opened), `n_resolved`,
  `median_ttr_hours`, `p90_ttr_hours` (time from created_at to resolved_at; NaN in weeks
  without incidents), {', '.join(f'`{c}`' for c in sev_cols)} (by the incident's impact).
- Validation: {data.n_rows} rows read, {len(data.excluded)} excluded.
- Caveat: a status page records *communicated* incidents; a change in reporting policy looks
  like a change in reliability.

## Published figures, recomputed (also checked by tests/test_data.py)

| figure | shared README | recomputed |
|---|---|---|
| median duration, 2019-2023 | 63.5 min | {figs['median_min']:.2f} min |
| 90th percentile, 2019-2023 | 235 min | {figs['p90_min']:.1f} min |
| yearly counts 2019..2023 | 40, 70, 86, 123, 131 | {yearly} |
| weekly variance / mean | about 1.6 | {ratio:.2f} (full weeks of this file) |
"""
    (out / "PROVENANCE.md").write_text(text, encoding="utf-8")
    return [str(out / "weekly.csv"), str(out / "PROVENANCE.md")]


def _kev_series(adds: IncidentData, windows: IncidentData, period: str) -> pd.DataFrame:
    kw = {"start": KEV["start"], "end": KEV["end"]}
    counts = adds.aggregate(period, **kw).to_frame()
    win = windows.aggregate(period, **kw).to_frame()
    frame = counts.drop(columns=["n_resolved", "median_ttr_hours", "p90_ttr_hours"])
    frame["n_with_window"] = win["n_resolved"]
    frame["median_window_days"] = win["median_ttr_hours"] / 24
    frame["p90_window_days"] = win["p90_ttr_hours"] / 24
    return frame


def make_kev(shared: Path, out: Path) -> list[str]:
    src = shared / KEV["file"]
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out / "known_exploited_vulnerabilities.csv")
    shutil.copyfile(shared / KEV["licence"], out / "LICENSE_CC0.txt")
    adds = read_incidents(src, opened="dateAdded", resolved=None, key="cveID",
                          on_invalid="raise")
    with warnings.catch_warnings():  # the excluded rows are listed in PROVENANCE.md
        warnings.simplefilter("ignore")
        windows = read_incidents(src, opened="dateAdded", resolved="dueDate", key="cveID")
    weekly = _kev_series(adds, windows, "W")
    monthly = _kev_series(adds, windows, "M")
    write_csv(weekly, out / "weekly.csv")
    write_csv(monthly, out / "monthly.csv")
    ex = windows.excluded
    ex_rows = "\n".join(f"| {r.row} | {r.cveID} | {r.dateAdded} | {r.dueDate} |"
                        for r in ex.itertuples())
    days = windows.incidents["ttr_hours"] / 24
    y2021 = windows.incidents["opened"].dt.year == 2021
    n_after = int((adds.incidents["opened"] >= pd.Timestamp(KEV["end"], tz="UTC")).sum())
    text = f"""# CISA Known Exploited Vulnerabilities (KEV) catalog

`known_exploited_vulnerabilities.csv` and `LICENSE_CC0.txt` are byte-identical copies of the
upstream files; `weekly.csv` and `monthly.csv` are series derived from the catalog.

## Source

| item | value |
|---|---|
| repository | `{KEV['repo']}` |
| commit | `{KEV['commit']}` ({KEV['commit_date']}) |
| input | `../shared/{KEV['file']}`, sha256 `{sha256(src)}` |
| licence | CC0 1.0 (`LICENSE_CC0.txt`): free to ship |

## Regenerate

```bash
{COMMAND}
```

(from the repository root; `calibration/make_data.py` reads the catalog with
`sts_dynamics.data.read_incidents(opened="dateAdded", resolved="dueDate", key="cveID")`,
and once more with `resolved=None` to count every addition.)

## Contents of weekly.csv and monthly.csv

- Window: additions in [{KEV['start']}, {KEV['end']}) UTC: from the catalog's first day to the
  snapshot day, which is left out because it may be incomplete ({n_after} additions on
  {KEV['end']} are not in the series). Weeks start on Monday. The first week and month start
  mid-period and the last month ends mid-period; `exposure` gives each period's length.
- Columns: `date` (calendar start of the period), `t` (midpoint, weeks since the origin
  {KEV['start']} 00:00 UTC), `t_start`, `t_end`, `exposure` (weeks), `count` (vulnerabilities
  added: a governance-demand series), `n_with_window`, `median_window_days`,
  `p90_window_days` (the mandated remediation window dueDate - dateAdded: a
  governance-response series; NaN in periods without additions).
- The November 2021 and March 2022 spikes are back-catalogue catch-ups, not demand.
- Remediation windows: median {float(np.median(days)):g} days overall,
  {float(np.median(days[y2021])):g} days for the 2021 back-catalogue.

## Excluded from the remediation-window columns

{len(ex)} of {windows.n_rows} rows have a due date before the date added (due dates of
earlier directives, carried into the catalog at its launch). They are counted as additions
but have no remediation window:

| row | cveID | dateAdded | dueDate |
|---|---|---|---|
{ex_rows}
"""
    (out / "PROVENANCE.md").write_text(text, encoding="utf-8")
    return [str(out / n) for n in ("known_exploited_vulnerabilities.csv", "LICENSE_CC0.txt",
                                   "weekly.csv", "monthly.csv", "PROVENANCE.md")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True,
                        help="the shared folder that holds data/ (e.g. ../shared)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data",
                        help="output folder (default: calibration/data beside this script)")
    args = parser.parse_args(argv)
    if not (args.shared / "data").is_dir():
        parser.error(f"--shared {args.shared} has no data/ folder")
    written = make_github(args.shared, args.out / "github")
    written += make_kev(args.shared, args.out / "cisa_kev")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Helpers for the test-models conformance suite (see ``tests/test-models/README.md``).

``read_canonical`` reads a canonical output (``output.tab`` or ``output.csv`` as written by
Vensim or Stella) into a DataFrame indexed by time; ``compare`` checks a simulation against
it with PySD's criterion ``|x - y| <= atol + rtol * |y|`` (``x`` simulated, ``y`` canonical)
and returns one description per variable that is off, worst first; ``read_manifest`` reads
``tests/test-models/manifest.toml``.

A simulation is anything with ``.t`` (output times) and ``sim[name]`` (values over ``.t``).
If it also lists its variable names (``.names``, ``.variables``, ``.variable_names``,
``.columns`` or ``.keys()``), names are matched case-insensitively, ignoring quotes and the
difference between spaces and underscores; otherwise the canonical name and a few spellings
of it are tried with ``sim[name]``.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
MODELS_DIR = HERE / "test-models"
MANIFEST = MODELS_DIR / "manifest.toml"

#: PySD's tolerances for the test-models suite (``pysd.tools.benchmarking.assert_allclose``).
RTOL = 1e-5
ATOL = 1e-5

_NAME_ATTRS = ("names", "variables", "variable_names", "columns")


# --------------------------------------------------------------------------- names


def normalize_name(name: str) -> str:
    """Key used to match a canonical column with a simulation variable.

    Strips one pair of surrounding quotes, drops the remaining (possibly backslash-escaped)
    double quotes, folds case, treats runs of spaces and underscores as one space and
    applies Unicode NFC normalization.

    >>> normalize_name('"Heat  Loss_to Room"')
    'heat loss to room'
    >>> normalize_name('"variable with \\\\"Quotes\\\\" in it"')
    'variable with quotes in it'
    """
    s = unicodedata.normalize("NFC", str(name)).strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1]
    s = s.replace('\\"', '"').replace('"', "")
    return re.sub(r"[\s_]+", " ", s).strip().casefold()


def _sim_names(sim: Any) -> list[str] | None:
    for attr in _NAME_ATTRS:
        names = getattr(sim, attr, None)
        if names is None or callable(names) or isinstance(names, str):
            continue
        try:
            return [str(n) for n in names]
        except TypeError:
            continue
    keys = getattr(sim, "keys", None)
    if callable(keys):
        try:
            return [str(n) for n in keys()]
        except TypeError:
            return None
    return None


def _spellings(name: str) -> list[str]:
    """A canonical name and the spellings an engine might use for it, most literal first."""
    s = name.strip()
    out = [name, s]
    if len(s) >= 2 and s[0] == s[-1] == '"':
        out.append(s[1:-1])
        out.append(s[1:-1].replace('\\"', '"'))
    bare = s.replace('\\"', '"').replace('"', "")
    spaced = re.sub(r"[\s_]+", " ", bare).strip()
    out += [bare, spaced, spaced.replace(" ", "_"), spaced.casefold(),
            spaced.casefold().replace(" ", "_")]
    return list(dict.fromkeys(out))


def _lookup(sim: Any, name: str, index: dict[str, str] | None) -> np.ndarray | None:
    """Values of canonical column ``name`` in ``sim``, or None when the sim lacks it."""
    candidates = _spellings(name)
    if index is not None:
        hit = index.get(normalize_name(name))
        if hit is None:
            return None
        candidates = [hit, *candidates]
    for key in candidates:
        try:
            return np.asarray(sim[key], dtype=float)
        except KeyError:
            continue
    return None


# --------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes any byte string")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def read_canonical(path: str | Path) -> pd.DataFrame:
    """Read a canonical output file into a float DataFrame indexed by time.

    ``.tab`` files are tab-separated (Vensim), ``.csv`` comma-separated; either may be in
    UTF-8 or a Windows/Latin-1 code page and use CR, LF or CRLF line ends. The usual layout
    has a ``Time`` column and one column per variable; the transposed layout (one row per
    variable, the first row holding the times) is recognised too. Vensim writes constants
    only at the first time (the rest of the column blank): such columns are filled with
    their first value, as PySD's ``assert_frames_close`` does. Rows without a time are
    dropped; cells that are not numbers become NaN.
    """
    path = Path(path)
    sep = {".tab": "\t", ".csv": ","}.get(path.suffix.lower())
    if sep is None:
        raise ValueError(f"canonical output must be .tab or .csv, got {path.name!r}")
    from io import StringIO

    table = pd.read_csv(StringIO(_read_text(path)), sep=sep, header=None, dtype=str,
                        keep_default_na=False, skip_blank_lines=True)
    table = table.apply(lambda col: col.str.strip())
    first_row = table.iloc[0].tolist()
    transposed = (first_row[0].casefold() == "time" and len(first_row) > 1
                  and all(_is_number(v) for v in first_row[1:] if v != ""))
    if transposed:
        table = table.T.reset_index(drop=True)
    header = table.iloc[0].tolist()
    body = table.iloc[1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    values = body.apply(pd.to_numeric, errors="coerce")
    time = values.pop(0).to_numpy(dtype=float)
    frame = pd.DataFrame(values.to_numpy(dtype=float), columns=header[1:],
                         index=pd.Index(time, name="time"))
    frame = frame.loc[:, [c != "" for c in frame.columns]]
    frame = frame[~np.isnan(frame.index.to_numpy())]
    if len(frame) > 1:
        constant = frame.iloc[1:].isna().all(axis=0) & frame.iloc[0].notna()
        for col in np.flatnonzero(constant.to_numpy()):
            frame.iloc[:, col] = frame.iloc[0, col]
    return frame


def find_canonical(model_path: str | Path) -> Path:
    """The canonical output beside a model: ``output.csv`` first, then ``output.tab`` (as PySD)."""
    folder = Path(model_path).parent
    for name in ("output.csv", "output.tab"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no output.csv or output.tab beside {model_path}")


# --------------------------------------------------------------------------- comparing


def _match_times(sim_t: np.ndarray, canon_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``sim_t`` for each canonical time, and a mask of the times found.

    Canonical times are printed with about six significant digits (SIR's 12.34375 appears
    as 12.3438), so a canonical time matches the nearest output time when it is within a
    quarter of the smallest output interval (or 1e-9 relative, for a single output time).
    """
    if sim_t.size == 0:
        return np.zeros(canon_t.shape, dtype=int), np.zeros(canon_t.shape, dtype=bool)
    order = np.argsort(sim_t, kind="stable")
    st = sim_t[order]
    pos = np.clip(np.searchsorted(st, canon_t), 1, max(st.size - 1, 1))
    left = st[np.maximum(pos - 1, 0)]
    right = st[np.minimum(pos, st.size - 1)]
    choose_left = np.abs(canon_t - left) <= np.abs(right - canon_t)
    nearest = np.where(choose_left, np.maximum(pos - 1, 0), np.minimum(pos, st.size - 1))
    gaps = np.diff(st)
    gaps = gaps[gaps > 0]
    slack = 0.25 * gaps.min() if gaps.size else 0.0
    slack = np.maximum(slack, 1e-9 * np.maximum(1.0, np.abs(canon_t)))
    found = np.abs(st[nearest] - canon_t) <= slack
    return order[nearest], found


@dataclass(frozen=True)
class Mismatch:
    """One canonical column that the simulation does not reproduce."""

    name: str
    excess: float  # worst |x - y| / (atol + rtol |y|); inf for NaN or shape problems
    text: str

    def __str__(self) -> str:
        return self.text


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def mismatches(sim: Any, canonical: pd.DataFrame, rtol: float = RTOL,
               atol: float = ATOL) -> list[Mismatch]:
    """Like :func:`compare` but returns :class:`Mismatch` records (worst first)."""
    sim_t = np.asarray(sim.t, dtype=float).reshape(-1)
    canon_t = canonical.index.to_numpy(dtype=float)
    idx, found = _match_times(sim_t, canon_t)
    out: list[Mismatch] = []
    if not found.all():
        missing = canon_t[~found]
        out.append(Mismatch("time", math.inf,
                            f"time: {missing.size} of {canon_t.size} canonical times are not "
                            f"output times of the simulation (first {_fmt(missing[0])}; "
                            f"simulation has {sim_t.size} times from "
                            f"{_fmt(sim_t.min()) if sim_t.size else '-'} to "
                            f"{_fmt(sim_t.max()) if sim_t.size else '-'})"))
    names = _sim_names(sim)
    index = None
    if names is not None:
        index = {}
        for n in names:
            index.setdefault(normalize_name(n), n)
    compared = 0
    for col in canonical.columns:
        if str(col).casefold() == "time":
            continue
        values = _lookup(sim, str(col), index)
        if values is None:
            continue
        compared += 1
        if values.ndim == 0:
            values = np.full(sim_t.shape, float(values))
        values = np.squeeze(values)
        if values.shape != sim_t.shape:
            out.append(Mismatch(str(col), math.inf,
                                f"{col}: simulation gives shape {values.shape}, "
                                f"expected {sim_t.shape} (one value per output time)"))
            continue
        y = canonical[col].to_numpy(dtype=float)[found]
        x = values[idx[found]]
        t = canon_t[found]
        allowed = atol + rtol * np.abs(y)
        with np.errstate(invalid="ignore"):
            diff = np.abs(x - y)
            ok = (diff <= allowed) | (np.isnan(x) & np.isnan(y)) | (x == y)
        if ok.all():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = np.where(np.isnan(diff), np.inf, diff / allowed)
        excess[ok] = -1.0
        k = int(np.argmax(excess))
        out.append(Mismatch(
            str(col), float(excess[k]),
            f"{col}: {int((~ok).sum())} of {ok.size} times outside tolerance; worst at "
            f"t={_fmt(t[k])}: got {_fmt(x[k])}, expected {_fmt(y[k])} "
            f"(|diff| {_fmt(diff[k])} > {_fmt(allowed[k])} = atol {atol:g} + rtol {rtol:g}*|y|)"))
    if compared == 0:
        out.append(Mismatch("(columns)", math.inf,
                            "no canonical column was found in the simulation; canonical "
                            f"columns: {list(canonical.columns)[:8]}"))
    out.sort(key=lambda m: -m.excess)
    return out


def compare(sim: Any, canonical: pd.DataFrame, rtol: float = RTOL,
            atol: float = ATOL) -> list[str]:
    """Compare a simulation with a canonical output; return mismatch descriptions.

    Every canonical column that the simulation has is checked on the canonical time grid
    with ``|x - y| <= atol + rtol * |y|`` (``x`` simulated, ``y`` canonical; NaN matches
    NaN). Columns the simulation lacks are skipped, but finding none at all is a mismatch,
    and so is a canonical time that is not an output time of the simulation. The result
    has one line per failing variable, worst first (largest ``|x - y| / (atol + rtol|y|)``),
    each naming the time of its worst point. An empty list means the simulation conforms.
    """
    return [m.text for m in mismatches(sim, canonical, rtol=rtol, atol=atol)]


def missing_columns(sim: Any, canonical: pd.DataFrame) -> list[str]:
    """Canonical columns (other than time) that the simulation does not provide."""
    names = _sim_names(sim)
    index = None if names is None else {normalize_name(n): n for n in names}
    return [str(c) for c in canonical.columns
            if str(c).casefold() != "time" and _lookup(sim, str(c), index) is None]


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Case:
    """One ``[[model]]`` entry of the manifest."""

    id: str  # the manifest's path, relative to the manifest's folder
    path: Path
    kind: str
    canonical: Path
    expected: str
    reason: str
    rtol: float
    atol: float
    features: tuple[str, ...]


@dataclass(frozen=True)
class UnsupportedCase:
    """One ``[[unsupported]]`` entry: loading or simulating must raise."""

    id: str
    path: Path
    names: tuple[str, ...]
    reason: str
    expected: str = "pass"
    xfail_reason: str = ""


def read_manifest(path: str | Path = MANIFEST) -> tuple[list[Case], list[UnsupportedCase]]:
    """Read the conformance manifest (``[[model]]`` and ``[[unsupported]]`` tables)."""
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    root = path.parent
    defaults = data.get("defaults", {})
    cases = []
    for entry in data.get("model", []):
        expected = entry.get("expected", "pass")
        if expected not in ("pass", "xfail"):
            raise ValueError(f"{entry['path']}: expected must be 'pass' or 'xfail'")
        if expected == "xfail" and not entry.get("reason"):
            raise ValueError(f"{entry['path']}: an xfail needs a reason")
        model = root / entry["path"]
        canonical = root / entry["canonical"] if "canonical" in entry else find_canonical(model)
        cases.append(Case(
            id=entry["path"], path=model, kind=entry.get("kind", model.suffix.lower().lstrip(".")),
            canonical=canonical, expected=expected, reason=entry.get("reason", ""),
            rtol=float(entry.get("rtol", defaults.get("rtol", RTOL))),
            atol=float(entry.get("atol", defaults.get("atol", ATOL))),
            features=tuple(entry.get("features", ()))))
    unsupported = []
    for e in data.get("unsupported", []):
        expected = e.get("expected", "pass")
        if expected not in ("pass", "xfail") or (expected == "xfail"
                                                 and not e.get("xfail_reason")):
            raise ValueError(f"{e['path']}: expected must be 'pass' or 'xfail' (with "
                             "xfail_reason)")
        unsupported.append(UnsupportedCase(
            id=e["path"], path=root / e["path"], names=tuple(e["names"]),
            reason=e.get("reason", ""), expected=expected,
            xfail_reason=e.get("xfail_reason", "")))
    return cases, unsupported


def names_in_message(names: Iterable[str], message: str) -> bool:
    """Whether ``message`` names one of ``names`` (case, quotes and ``_`` vs space ignored)."""
    text = normalize_name(message)
    return any(normalize_name(n) in text for n in names)

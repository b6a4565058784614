"""The frozen result of :func:`sts_dynamics.loop_dominance`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..model import Model
from .loopset import Loop, LoopSet, Partition

__all__ = ["LoopAnalysis", "DominantPeriod", "TIMING"]

#: The timing convention of discrete scores (see :mod:`sts_dynamics.loops.scores`).
TIMING = ("end of interval: the score at t[k] describes the change from t[k-1] to t[k] "
          "(Stella and the 2020 LTM paper label it t[k-1]); continuous scores are instantaneous")


@dataclass(frozen=True)
class DominantPeriod:
    """An interval in which one set of loops explains at least half of a partition's change."""

    partition: int
    start: float
    end: float
    loops: tuple[str, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, eq=False)
class LoopAnalysis:
    """Loop dominance over a run (Loops That Matter, 2023 form).

    Attributes
    ----------
    model : Model
    loops : LoopSet
        The loops analysed (``loops.loops[i]`` is column ``i`` of the score arrays).
    t : ndarray, shape (n_time,)
        Output times.  Scores follow :data:`TIMING`.
    n_runs : int or None
        Runs of an ensemble; ``None`` for one run.
    method : str
        ``"discrete"`` or ``"continuous"`` (see :mod:`sts_dynamics.loops.scores`).
    link_scores : Mapping[(str, str), ndarray]
        Score of every dynamic link of the collapsed causal graph, by (source name, target
        name); composite links (SMOOTH/DELAY) carry their strongest internal path.  Shape
        ``(n_time,)`` or ``(n_time, n_runs)``.
    loop_scores, relative_scores : ndarray
        Shape ``(n_time, n_loops)`` or ``(n_time, n_loops, n_runs)``.  Relative scores are
        loop scores over the sum of |loop score| in the loop's cycle partition, in [-1, 1];
        NaN where no loop of the partition is active (equilibrium) or scores are undefined.
    dominant : ndarray of bool
        Same shape: the loop belongs to the smallest set of its partition whose |relative
        scores| add up to ``threshold`` (0.5) or more.
    periods : tuple of DominantPeriod
        Dominant periods of a single run; of an ensemble, computed from the mean relative
        scores over runs.  ``dominant`` and ``periods`` are computed on first use.
    message : str
        A note for the user (for example "no feedback loops"), or ``""``.
    """

    model: Model
    loops: LoopSet
    t: np.ndarray
    n_runs: int | None
    method: str
    link_scores: Mapping[tuple[str, str], np.ndarray]
    loop_scores: np.ndarray
    relative_scores: np.ndarray
    threshold: float = 0.5
    message: str = ""
    timing: str = TIMING
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for a in (self.t, self.loop_scores, self.relative_scores, *self.link_scores.values()):
            a.setflags(write=False)
        object.__setattr__(self, "link_scores", MappingProxyType(dict(self.link_scores)))

    # computed on first use, then kept
    @cached_property
    def dominant(self) -> np.ndarray:
        from .dominance import dominant_mask

        mask = dominant_mask(self.relative_scores, self.loops, self.threshold)
        mask.setflags(write=False)
        return mask

    @cached_property
    def periods(self) -> tuple[DominantPeriod, ...]:
        from .dominance import dominant_periods

        return tuple(dominant_periods(self.t, self._median_relative(), self.loops,
                                      self.threshold))

    # -- access -------------------------------------------------------------------------------
    @property
    def partitions(self) -> tuple[Partition, ...]:
        return self.loops.partitions

    def __len__(self) -> int:
        return len(self.loops)

    def loop(self, loop_id: str | int) -> Loop:
        return self.loops[loop_id]

    def score(self, loop_id: str) -> np.ndarray:
        """Loop score of one loop: shape ``(n_time,)`` or ``(n_time, n_runs)``."""
        return self.loop_scores[:, self.loops.index(loop_id)]

    def relative(self, loop_id: str) -> np.ndarray:
        """Relative loop score of one loop."""
        return self.relative_scores[:, self.loops.index(loop_id)]

    def link_score(self, source: str, target: str) -> np.ndarray:
        """Score of the link ``source -> target`` (names or keys)."""
        m = self.model
        key = (m[source].name, m[target].name)
        if key not in self.link_scores:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"there is no dynamic link {source!r} -> {target!r} in model "
                                   f"{m.name!r}.")
        return self.link_scores[key]

    def _3d(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0], a.shape[1], 1 if self.n_runs is None else self.n_runs)

    def _median_relative(self) -> np.ndarray:
        """Relative scores of a single run; of an ensemble, their mean over runs."""
        rel = self.relative_scores
        if rel.ndim == 2:
            return rel
        ok = np.isfinite(rel)
        n = ok.sum(axis=2)
        with np.errstate(all="ignore"):
            return np.where(n > 0, np.where(ok, rel, 0.0).sum(axis=2) / n, np.nan)

    def share(self) -> pd.Series:
        """Share of dominance of each loop over the run: mean |relative score| in [0, 1].

        Averaged over the times (and runs) where the loop's partition is active.
        """
        rel = np.abs(self._3d(self.relative_scores))
        rel = rel.transpose(1, 0, 2).reshape(rel.shape[1], rel.shape[0] * rel.shape[2])
        ok = np.isfinite(rel)
        s = np.where(ok, rel, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
        return pd.Series(s, index=pd.Index(self.loops.ids, name="loop"), name="share")

    def time_dominant(self) -> pd.Series:
        """Fraction of the run during which each loop is in the dominant set."""
        d = self._3d(self.dominant)
        active = np.isfinite(self._3d(self.relative_scores))
        with np.errstate(all="ignore"):
            frac = d.sum(axis=(0, 2)) / np.maximum(active.sum(axis=(0, 2)), 1)
        return pd.Series(frac, index=pd.Index(self.loops.ids, name="loop"), name="dominant")

    def boundary_share(self) -> float:
        """Share of dominance held by loops crossing the technical/social boundary."""
        share = self.share()
        total = float(share.sum())
        cross = sum(float(share[lp.id]) for lp in self.loops if lp.crosses_boundary)
        return cross / total if total > 0 else 0.0

    def dominant_at(self, time: float) -> tuple[str, ...]:
        """Ids of the dominant loops (every partition) at the output time nearest ``time``."""
        k = int(np.argmin(np.abs(self.t - time)))
        rel = self._median_relative()
        from .dominance import dominant_mask

        mask = dominant_mask(rel[k:k + 1], self.loops, self.threshold)[0]
        return tuple(lp.id for lp, m in zip(self.loops, mask, strict=True) if m)

    def main_periods(self, min_duration: float | None = None) -> tuple[DominantPeriod, ...]:
        """The leading loop over time, without flicker: for a summary or a narrative.

        At each time the loop with the largest |relative score| of each partition leads
        (mean over runs for an ensemble); runs of the same leader shorter than
        ``min_duration`` (default 5% of the run) are absorbed by the period before them (or,
        at the start, the one after).  Each period carries one loop id.
        """
        if min_duration is None:
            min_duration = 0.05 * float(self.t[-1] - self.t[0])
        rel = np.abs(self._median_relative())
        out: list[DominantPeriod] = []
        for part in self.partitions:
            cols = [self.loops.index(i) for i in part.loops]
            a = rel[:, cols]
            ok = np.isfinite(a).all(axis=1) & (np.nan_to_num(a).max(axis=1) > 0)
            lead = np.where(ok, np.argmax(np.nan_to_num(a), axis=1), -1)
            segs: list[list] = []          # [leader, start index, end index]
            for k, j in enumerate(lead):
                if segs and segs[-1][0] == j:
                    segs[-1][2] = k
                else:
                    segs.append([j, k, k])
            merged: list[list] = []
            for seg in segs:
                dur = self.t[seg[2]] - self.t[seg[1]]
                if merged and (dur < min_duration or merged[-1][0] == seg[0]):
                    merged[-1][2] = seg[2]
                elif merged and (self.t[merged[-1][2]] - self.t[merged[-1][1]]) < min_duration:
                    merged[-1] = [seg[0], merged[-1][1], seg[2]]
                else:
                    merged.append(list(seg))
            for j, a0, b0 in merged:
                if j >= 0:
                    out.append(DominantPeriod(part.index, float(self.t[a0]), float(self.t[b0]),
                                              (self.loops.ids[cols[j]],)))
        return tuple(out)

    def shifts(self) -> list[tuple[float, int, tuple[str, ...], tuple[str, ...]]]:
        """Dominance shifts: ``(time, partition, loops before, loops after)``."""
        out = []
        by_part: dict[int, list[DominantPeriod]] = {}
        for p in self.periods:
            by_part.setdefault(p.partition, []).append(p)
        for part, ps in by_part.items():
            for a, b in zip(ps, ps[1:], strict=False):
                if a.loops != b.loops:
                    out.append((b.start, part, a.loops, b.loops))
        return sorted(out)

    # -- views --------------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """The loop table: id, name, polarity, length, partition, layers, share, variables."""
        df = self.loops.to_frame()
        df.insert(4, "share", self.share().to_numpy())
        df.insert(5, "dominant", self.time_dominant().to_numpy())
        df.insert(6, "confidence", self.polarity_confidence().to_numpy())
        return df

    def polarity_confidence(self) -> pd.Series:
        """|r - |b|| / (r + |b|) over the run, r and b the summed positive and negative scores.

        1 for a loop whose score never changes sign; at most 0.99 is drawn grey.
        """
        s = self._3d(self.loop_scores)
        s = np.where(np.isfinite(s), s, 0.0)
        r = np.where(s > 0, s, 0.0).sum(axis=(0, 2))
        b = np.where(s < 0, -s, 0.0).sum(axis=(0, 2))
        with np.errstate(all="ignore"):
            c = np.where(r + b > 0, np.abs(r - b) / (r + b), 0.0)
        return pd.Series(c, index=pd.Index(self.loops.ids, name="loop"), name="confidence")

    def to_frame(self) -> pd.DataFrame:
        """Long frame: ``time, [run,] loop, name, polarity, score, relative, dominant``."""
        n_t, n_l = self.loop_scores.shape[:2]
        runs = 1 if self.n_runs is None else self.n_runs
        sc = self.loop_scores.reshape(n_t, n_l, runs)
        rel = self.relative_scores.reshape(n_t, n_l, runs)
        dom = self.dominant.reshape(n_t, n_l, runs)
        idx = np.indices((n_t, n_l, runs)).reshape(3, -1)
        ids = np.array(self.loops.ids, dtype=object)
        names = np.array([lp.name or "" for lp in self.loops], dtype=object)
        pols = np.array([lp.polarity for lp in self.loops], dtype=object)
        data: dict[str, Any] = {"time": self.t[idx[0]]}
        if self.n_runs is not None:
            data["run"] = idx[2]
        data.update(loop=ids[idx[1]] if n_l else np.array([], dtype=object),
                    name=names[idx[1]] if n_l else np.array([], dtype=object),
                    polarity=pols[idx[1]] if n_l else np.array([], dtype=object),
                    score=sc.reshape(-1), relative=rel.reshape(-1), dominant=dom.reshape(-1))
        return pd.DataFrame(data)

    def links_frame(self) -> pd.DataFrame:
        """Wide frame of link scores (single run) indexed by time, one column per link."""
        cols = {f"{a} -> {b}": (v if v.ndim == 1 else np.nanmedian(v, axis=1))
                for (a, b), v in self.link_scores.items()}
        return pd.DataFrame(cols, index=pd.Index(self.t, name="time"))

    def __repr__(self) -> str:
        runs = "" if self.n_runs is None else f", {self.n_runs} runs"
        return (f"<LoopAnalysis of {self.model.name!r}: {len(self.loops)} loops, "
                f"{len(self.t)} times{runs}, {self.method}, {len(self.periods)} dominant "
                f"periods>")

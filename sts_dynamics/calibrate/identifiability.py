"""Local identifiability from the singular value decomposition of the fit's Jacobian.

The Jacobian ``J`` of the scaled residuals with respect to the internal parameters (logs of
log-transformed rates, logits of bounded ones) has singular values ``sigma_i`` and right
singular vectors ``v_i``. Along ``v_i`` the data pin the parameters down to a standard error
of ``s / sigma_i``: a direction is *weakly identified* when that error exceeds
:data:`WEAK_SE` internal units (a factor ``e`` for log-scaled parameters) or
``sigma_i / sigma_max`` falls below :data:`WEAK_RATIO`. A weak direction that mixes several
parameters names a combination the data constrain only jointly (for example
``log(a) + log(b)``: only the product ``a b`` is identified).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Identifiability", "identifiability", "WEAK_SE", "WEAK_RATIO"]

#: Standard error (internal units) above which a direction is weakly identified.
WEAK_SE = 1.0
#: Relative singular value below which a direction is weakly identified.
WEAK_RATIO = 1e-3


@dataclass(frozen=True)
class Direction:
    """One singular direction of the Jacobian."""

    singular_value: float
    ratio: float                      # singular_value / largest
    stderr: float                     # s / singular_value, internal units
    weights: tuple[float, ...]        # the right singular vector (unit length)
    combination: str                  # e.g. "log(a) - 0.98 log(b)"
    weak: bool


@dataclass(frozen=True)
class Identifiability:
    """SVD of the Jacobian: directions ordered from best to worst identified."""

    names: tuple[str, ...]
    labels: tuple[str, ...]           # parameters on their internal scale, e.g. "log(a)"
    directions: tuple[Direction, ...]
    condition_number: float

    @property
    def weak(self) -> tuple[Direction, ...]:
        return tuple(d for d in self.directions if d.weak)

    def lines(self) -> list[str]:
        """Text for the report."""
        out = [f"condition number = {self.condition_number:.4g}"]
        for d in self.directions:
            flag = "  WEAK" if d.weak else ""
            out.append(f"sv = {d.singular_value:11.4g}  (ratio {d.ratio:9.3g}, se "
                       f"{d.stderr:9.3g}){flag}: {d.combination}")
        if self.weak:
            out.append("weakly identified: " + "; ".join(d.combination for d in self.weak)
                       + " -- the data constrain these only jointly (or not at all); their "
                       "separate values and Wald errors mislead.")
        else:
            out.append("every direction is identified (se <= 1 internal unit).")
        return out


def _label(name: str, transform: str) -> str:
    return f"{transform}({name})" if transform in ("log", "logit") else name


def _combination(v: np.ndarray, labels: tuple[str, ...], cutoff: float = 0.1) -> str:
    k = int(np.argmax(np.abs(v)))
    v = v / v[k]
    terms = []
    for i in np.argsort(-np.abs(v)):
        if abs(v[i]) < cutoff:
            continue
        c = v[i]
        coef = "" if abs(abs(c) - 1) < 5e-3 else f"{abs(c):.2g} "
        sign = "-" if c < 0 else "+"
        terms.append((sign, f"{coef}{labels[i]}"))
    text = terms[0][1] if terms[0][0] == "+" else "-" + terms[0][1]
    for sign, t in terms[1:]:
        text += f" {sign} {t}"
    return text


def identifiability(J: np.ndarray, names: tuple[str, ...], transforms: tuple[str, ...],
                    scale: float) -> Identifiability:
    """Analyse the Jacobian ``J`` (shape ``(n_res, p)``, internal space); ``scale`` is the
    residual variance ``s**2``."""
    labels = tuple(_label(n, t) for n, t in zip(names, transforms, strict=True))
    _, sv, Vt = np.linalg.svd(np.asarray(J, dtype=float), full_matrices=False)
    smax = sv.max(initial=0.0)
    s = np.sqrt(max(scale, 0.0))
    dirs = []
    for i, val in enumerate(sv):
        ratio = val / smax if smax > 0 else 0.0
        se = s / val if val > 0 else np.inf
        weak = bool(se > WEAK_SE or ratio < WEAK_RATIO)
        dirs.append(Direction(float(val), float(ratio), float(se),
                              tuple(float(x) for x in Vt[i]), _combination(Vt[i], labels), weak))
    cond = float(smax / sv.min()) if sv.size and sv.min() > 0 else np.inf
    return Identifiability(tuple(names), labels, tuple(dirs), cond)

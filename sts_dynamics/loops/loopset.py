"""The loops of a model as data: :class:`Loop`, :class:`Partition` and :class:`LoopSet`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from ..errors import UnknownNameError, close_matches
from ..model import Model
from .graph import CausalGraph

__all__ = ["Loop", "LoopSet", "Partition", "LoopWarning"]

_SIGN = {1: "+", -1: "-", 0: "?"}


class LoopWarning(UserWarning):
    """The loop enumeration was truncated or gave way to the strongest-path search, or a
    documented loop does not match the model."""


@dataclass(frozen=True)
class Loop:
    """One feedback loop.

    Attributes
    ----------
    id : str
        ``"R1"``, ``"B2"``, ``"U1"`` (unknown polarity); documented loops keep their own id.
    name : str or None
        The name from the model's documentation (``[[loop]]`` in ``<model>.meta.toml``).
    polarity : str
        ``"R"`` (reinforcing), ``"B"`` (balancing) or ``"U"`` (a link of unknown polarity).
    keys, variables : tuple of str
        The loop's variables in causal order (canonical keys and display names), starting at
        a stock.
    links : tuple of (str, str)
        Its links as key pairs, ``links[i] = (keys[i], keys[i + 1])``, closing the loop.
    link_polarities : tuple of int
        +1, -1 or 0 (unknown) for each link.
    stocks : tuple of str
        Names of the stocks on the loop (including the internal stages of SMOOTH/DELAY).
    partition : int
        Index of its cycle partition (loops that act on the same set of stocks).
    layers : tuple of str
        The sociotechnical layers of its variables (``Variable.layer``).
    declared_polarity : str or None
        The polarity the documentation gives.
    """

    id: str
    name: str | None
    polarity: str
    keys: tuple[str, ...]
    variables: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    link_polarities: tuple[int, ...]
    stocks: tuple[str, ...]
    partition: int
    layers: tuple[str, ...]
    declared_polarity: str | None = None

    @property
    def length(self) -> int:
        """Number of variables (and links) on the loop."""
        return len(self.keys)

    @property
    def label(self) -> str:
        """``"R1 word of mouth"`` or ``"R1"``."""
        return f"{self.id} {self.name}" if self.name else self.id

    @property
    def crosses_boundary(self) -> bool:
        """True when the loop has variables in both the technical and the social layer."""
        return "technical" in self.layers and "social" in self.layers

    def describe(self) -> str:
        """``"A -(+)-> B -(-)-> A"``."""
        parts = [f"{v} -({_SIGN[p]})-> " for v, p in
                 zip(self.variables, self.link_polarities, strict=True)]
        return "".join(parts) + self.variables[0]


@dataclass(frozen=True)
class Partition:
    """A cycle partition: stocks connected by feedback, and the loops acting on them."""

    index: int
    stocks: tuple[str, ...]
    loops: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class LoopSet:
    """The result of :func:`find_loops`: a sequence of :class:`Loop` with its context.

    Index by position or by loop id (``loops["R1"]``).

    Attributes
    ----------
    loops : tuple of Loop
    partitions : tuple of Partition
    graph : CausalGraph
    polarities : Mapping[(str, str), int]
        Polarity of every dynamic link of the collapsed graph, by key pair.
    truncated : bool
        True when the enumeration stopped at ``max_loops`` or longer loops were left out.
    message : str
        A note for the user (no loops, truncation, the strongest-path search), or ``""``.
    search : str
        How the loops were found: ``"all"`` (enumerated) or ``"strongest"`` (the
        strongest-path search over a run's link scores).
    """

    model: Model
    loops: tuple[Loop, ...]
    partitions: tuple[Partition, ...]
    graph: CausalGraph
    polarities: Mapping[tuple[str, str], int]
    max_length: int | None
    max_loops: int
    truncated: bool = False
    message: str = ""
    search: str = "all"
    _by_id: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({lp.id: i for i, lp in enumerate(self.loops)})

    def __len__(self) -> int:
        return len(self.loops)

    def __iter__(self) -> Iterator[Loop]:
        return iter(self.loops)

    def __getitem__(self, item: int | str) -> Loop:
        if isinstance(item, str):
            return self.loops[self.index(item)]
        return self.loops[item]

    def index(self, loop_id: str) -> int:
        """Position of the loop with id (or name) ``loop_id``."""
        if loop_id in self._by_id:
            return self._by_id[loop_id]
        for i, lp in enumerate(self.loops):
            if lp.name and lp.name.lower() == str(loop_id).lower():
                return i
        names = [lp.id for lp in self.loops] + [lp.name for lp in self.loops if lp.name]
        raise UnknownNameError(f"no loop {loop_id!r} in model {self.model.name!r}; loops: "
                               f"{', '.join(lp.id for lp in self.loops) or '(none)'}."
                               f"{close_matches(str(loop_id), names)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(lp.id for lp in self.loops)

    def polarity(self, source: str, target: str) -> int:
        """Polarity of the (collapsed) link ``source -> target``: +1, -1 or 0."""
        m = self.model
        return self.polarities[(m.resolve(source), m.resolve(target))]

    def to_frame(self) -> pd.DataFrame:
        """One row per loop: id, name, polarity, length, partition, layers, variables."""
        return pd.DataFrame({
            "id": [lp.id for lp in self.loops],
            "name": [lp.name or "" for lp in self.loops],
            "polarity": [lp.polarity for lp in self.loops],
            "length": [lp.length for lp in self.loops],
            "partition": [lp.partition for lp in self.loops],
            "layers": [", ".join(lp.layers) for lp in self.loops],
            "variables": [" -> ".join(lp.variables) for lp in self.loops],
        })

    def __repr__(self) -> str:
        kinds = {p: sum(1 for lp in self.loops if lp.polarity == p) for p in "RBU"}
        trunc = ", truncated" if self.truncated else ""
        if self.search == "strongest":
            trunc += ", strongest-path search"
        return (f"<LoopSet of {self.model.name!r}: {len(self.loops)} loops ({kinds['R']} R, "
                f"{kinds['B']} B, {kinds['U']} U), {len(self.partitions)} partitions{trunc}>")



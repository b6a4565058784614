"""The frozen model representation: variables, stocks and flows, dependency graph, orders.

A :class:`Model` is plain data.  It is built once from a model file (see
:func:`sts_dynamics.load`) and compiled once (see :mod:`sts_dynamics.compile`); changing a
constant for a run never re-parses the file.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .errors import AlgebraicLoopError, ConfigError, UnknownNameError, close_matches
from .expr import Expr, Num, references

__all__ = ["Variable", "Model", "Control", "KINDS", "LAYERS", "key_of", "identifier_of"]

#: Kinds of model variables.
KINDS = ("stock", "flow", "auxiliary", "constant", "lookup", "control", "initial")
#: Sociotechnical layers a variable can be tagged with (see docs/conventions.md).
LAYERS = ("technical", "social", "work system", "environment", "unassigned")
CONTROL_KEYS = ("initial_time", "final_time", "time_step", "saveper")

_LAYER_TAG = re.compile(r"\[\s*layer\s*:\s*([A-Za-z][A-Za-z \-]*?)\s*\]", re.IGNORECASE)


def key_of(name: str) -> str:
    """Canonical key of a variable name, as PySD's translators write references.

    Vensim treats spaces and underscores alike and is case-insensitive.

    Examples
    --------
    >>> key_of("Teacup  Temperature")
    'teacup_temperature'
    """
    return re.sub(r"[\s_]+", "_", name.strip().lower())


def identifier_of(name: str) -> str:
    """A Python-safe identifier for ``name``.

    Examples
    --------
    >>> identifier_of('"Aux with $peC!@| characters"')
    'aux_with_pec_characters'
    """
    ident = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
    if not ident:
        ident = "var"
    if ident[0].isdigit():
        ident = "_" + ident
    return ident


@dataclass(frozen=True)
class Control:
    """The control values of a model (Vensim's INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER)."""

    initial_time: float
    final_time: float
    time_step: float
    saveper: float
    time_units: str = ""


@dataclass(frozen=True)
class Variable:
    """One model variable.

    Attributes
    ----------
    name : str
        The name as written in the model file.
    key : str
        The canonical key used in equations (see :func:`key_of`).
    identifier : str
        A Python-safe identifier, unique within the model.
    kind : str
        One of :data:`KINDS`.
    equation : Expr or None
        The runtime equation; for a stock, its net rate (sum of inflows minus outflows).
    initial : Expr or None
        A stock's initial value, or the initialization equation of ACTIVE INITIAL.
    inflows, outflows : tuple of str
        Keys of the flows that fill and drain a stock.
    owner, function : str or None
        For states and flows created from SMOOTH, DELAY and TREND: the variable whose
        equation contains the function, and the function's name.
    """

    name: str
    key: str
    identifier: str
    kind: str
    equation: Expr | None = None
    initial: Expr | None = None
    inflows: tuple[str, ...] = ()
    outflows: tuple[str, ...] = ()
    units: str = ""
    limits: tuple[float | None, float | None] = (None, None)
    documentation: str = ""
    lookup: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    non_negative: bool = False
    owner: str | None = None
    function: str | None = None

    @property
    def value(self) -> float | None:
        """The default value of a constant (``None`` for other kinds)."""
        if self.kind in ("constant", "control") and isinstance(self.equation, Num):
            return self.equation.value
        return None

    @property
    def layer(self) -> str:
        """The sociotechnical layer tag from the documentation, or ``"unassigned"``."""
        m = _LAYER_TAG.search(self.documentation or "")
        if not m:
            return "unassigned"
        tag = " ".join(m.group(1).lower().replace("-", " ").split())
        return tag if tag in LAYERS else "unassigned"

    @property
    def internal(self) -> bool:
        """True for states and flows created by expanding SMOOTH/DELAY/TREND/INITIAL."""
        return self.owner is not None

    def uses(self) -> frozenset[str]:
        """Keys this variable's runtime equation references."""
        return references(self.equation) if self.equation is not None else frozenset()


class _Layers(Mapping[str, str]):
    def __init__(self, model: Model) -> None:
        self._model = model

    def __getitem__(self, name: str) -> str:
        return self._model[name].layer

    def __iter__(self) -> Iterator[str]:
        return (v.name for v in self._model.variables.values() if not v.internal)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, eq=False)
class Model:
    """A system-dynamics model: frozen data, compiled once.

    Build one with :func:`sts_dynamics.load`.  Look variables up by their original name,
    canonical key or Python identifier: ``model["Teacup Temperature"]``.
    """

    name: str
    variables: Mapping[str, Variable]
    control: Control
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    stocks: tuple[str, ...] = field(init=False)
    order: tuple[str, ...] = field(init=False)
    init_order: tuple[str, ...] = field(init=False)
    _aliases: Mapping[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        variables = MappingProxyType(dict(self.variables))
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        aliases: dict[str, str] = {}
        for key, var in variables.items():
            for alias in (key, var.identifier, key_of(var.name), var.name.lower(),
                          key_of(var.name.strip('"'))):
                aliases.setdefault(alias, key)
        object.__setattr__(self, "_aliases", MappingProxyType(aliases))
        stocks = tuple(k for k, v in variables.items() if v.kind == "stock")
        object.__setattr__(self, "stocks", stocks)
        object.__setattr__(self, "order", self._runtime_order())
        object.__setattr__(self, "init_order", self._init_order())

    def __reduce__(self):
        # the mapping proxies do not pickle; rebuild from plain dicts
        return (self.__class__, (self.name, dict(self.variables), self.control, self.source,
                                 _plain(self.metadata)))

    # -- lookup ---------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        """Return the canonical key of ``name`` or raise :class:`UnknownNameError`."""
        if not isinstance(name, str):
            raise TypeError(f"variable names must be strings, got {name!r}")
        hit = self._aliases.get(name)
        if hit is not None:
            return hit
        for cand in (name, name.lower(), key_of(name), key_of(name.strip('"')),
                     identifier_of(name)):
            if cand in self._aliases:
                return self._aliases[cand]
        public = [v.name for v in self.variables.values() if not v.internal]
        raise UnknownNameError(
            f"model {self.name!r} has no variable {name!r}.{close_matches(name, public)}"
        )

    def __getitem__(self, name: str) -> Variable:
        return self.variables[self.resolve(name)]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.resolve(name)
        except UnknownNameError:
            return False
        return True

    def _of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables.values() if v.kind == kind and not v.internal)

    @property
    def constants(self) -> dict[str, float]:
        """Default values of the model's constants, by name."""
        return {v.name: v.value for v in self.variables.values()
                if v.kind == "constant" and not v.internal}

    @property
    def flows(self) -> tuple[str, ...]:
        """Names of the flows (variables that fill or drain a stock)."""
        return self._of_kind("flow")

    @property
    def auxiliaries(self) -> tuple[str, ...]:
        return self._of_kind("auxiliary")

    @property
    def lookups(self) -> tuple[str, ...]:
        return self._of_kind("lookup")

    @property
    def stock_names(self) -> tuple[str, ...]:
        return self._of_kind("stock")

    @property
    def layers(self) -> Mapping[str, str]:
        """The sociotechnical layer of each (non-internal) variable, by name."""
        return _Layers(self)

    # -- graph ----------------------------------------------------------------------------
    def dependencies(self) -> dict[str, frozenset[str]]:
        """For each variable key, the keys its runtime equation uses (stocks: their flows)."""
        out = {}
        for key, var in self.variables.items():
            deps = set(var.uses())
            deps.discard("time")
            out[key] = frozenset(deps)
        return out

    def dependency_graph(self):
        """The causal graph as a ``networkx.DiGraph``: an edge ``x -> z`` when z uses x.

        Edges into a stock come from its flows and carry ``sign=+1`` (inflow) or
        ``sign=-1`` (outflow); other edges carry ``sign=None`` (see the loop analysis
        for numerical polarity).
        """
        import networkx as nx

        g = nx.DiGraph()
        for key, var in self.variables.items():
            g.add_node(key, name=var.name, kind=var.kind, internal=var.internal)
        for key, var in self.variables.items():
            if var.kind == "stock":
                for f in var.inflows:
                    g.add_edge(f, key, sign=1)
                for f in var.outflows:
                    g.add_edge(f, key, sign=-1)
            else:
                for dep in var.uses():
                    if dep != "time":
                        g.add_edge(dep, key, sign=None)
        return g

    def stock_flows(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """``{stock name: (inflow names, outflow names)}``."""
        v = self.variables
        return {v[s].name: (tuple(v[f].name for f in v[s].inflows),
                            tuple(v[f].name for f in v[s].outflows)) for s in self.stocks}

    def _runtime_order(self) -> tuple[str, ...]:
        fixed = {"stock", "constant", "lookup", "control", "initial"}
        nodes = {k: v for k, v in self.variables.items() if v.kind not in fixed}
        ts: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
        for key, var in nodes.items():
            ts.add(key, *[d for d in var.uses() if d in nodes])
        return self._sorted(ts, "its equations")

    def _init_order(self) -> tuple[str, ...]:
        fixed = {"constant", "lookup", "control"}
        nodes = {k: v for k, v in self.variables.items() if v.kind not in fixed}
        ts: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
        for key, var in nodes.items():
            expr = var.initial if var.initial is not None else var.equation
            if var.kind == "stock":
                expr = var.initial
            deps = references(expr) if expr is not None else frozenset()
            ts.add(key, *[d for d in deps if d in nodes])
        return self._sorted(ts, "its initial values")

    def _sorted(self, ts: graphlib.TopologicalSorter, what: str) -> tuple[str, ...]:
        try:
            return tuple(ts.static_order())
        except graphlib.CycleError as exc:
            cycle = [self.variables[k].name if k in self.variables else k for k in exc.args[1]]
            raise AlgebraicLoopError(
                f"model {self.name!r} has an algebraic loop in {what}: "
                + " -> ".join(repr(c) for c in cycle)
                + ". Break it with a stock (INTEG), a SMOOTH or a DELAY."
            ) from None

    # -- derived models -------------------------------------------------------------------
    def with_constants(self, values: Mapping[str, float], *, what: str = "values") -> Model:
        """A copy whose constants have new default values (used by context presets)."""
        new = dict(self.variables)
        for name, value in values.items():
            try:
                key = self.resolve(name)
            except UnknownNameError as exc:
                raise ConfigError(f"{what}: {exc}") from None
            var = new[key]
            if var.kind != "constant":
                raise ConfigError(
                    f"{what}: {var.name!r} is a {var.kind}, not a constant; only constants "
                    "can be given values."
                )
            new[key] = replace(var, equation=Num(float(value)))
        return replace(self, variables=new)

    def __repr__(self) -> str:
        kinds = {k: sum(1 for v in self.variables.values() if v.kind == k and not v.internal)
                 for k in ("stock", "flow", "auxiliary", "constant")}
        parts = ", ".join(f"{n} {k}s" for k, n in kinds.items())
        return f"<Model {self.name!r}: {parts}>"


def _plain(obj: Any) -> Any:
    """Plain dicts and lists from (nested) read-only mappings, for pickling."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    return obj

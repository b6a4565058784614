"""The expression tree of sts_dynamics: a small, frozen intermediate representation.

The builder translates PySD's abstract syntax into these nodes; the compiler turns them
into closures over NumPy.  Nothing downstream of the builder sees PySD's classes.

Node types
----------
``Num(value)``
    A numeric literal.
``Ref(name)``
    A reference to a model variable by its canonical key, or to ``"time"``.
``Op(op, args)``
    An operator: ``+ - * / ^ neg = <> < <= > >= and or not``.
``Call(func, args)``
    A built-in function (see :data:`BUILTINS`).
``Lookup(table, arg, mode)``
    A graphical function evaluated at ``arg``; ``table`` is the key of a lookup variable
    (or ``None`` with inline ``xs``/``ys``); ``mode`` is ``"hold"`` (Vensim's default,
    clamped ends), ``"extrapolate"``, ``"forward"`` or ``"backward"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Expr", "Num", "Ref", "Op", "Call", "Lookup", "BUILTINS", "walk", "references",
           "TIME_FUNCTIONS"]


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Op:
    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    table: str | None
    arg: Expr
    mode: str = "hold"
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()


Expr = Num | Ref | Op | Call | Lookup

#: Built-in functions the compiler implements, with their allowed argument counts.
BUILTINS: dict[str, tuple[int, ...]] = {
    "abs": (1,), "exp": (1,), "ln": (1,), "log": (1, 2), "sqrt": (1,), "power": (2,),
    "sin": (1,), "cos": (1,), "tan": (1,), "arcsin": (1,), "arccos": (1,), "arctan": (1,),
    "sinh": (1,), "cosh": (1,), "tanh": (1,),
    "min": (2,), "max": (2,), "integer": (1,), "modulo": (2,), "quantum": (2,),
    "xidz": (3,), "zidz": (2,), "if_then_else": (3,), "pi": (0,),
    "step": (2,), "ramp": (2, 3), "pulse": (1, 2), "pulse_train": (4,),
    "xpulse": (2,), "xpulse_train": (3,),
}

#: Built-ins whose value depends on simulation time (they make an equation dynamic).
TIME_FUNCTIONS = frozenset({"step", "ramp", "pulse", "pulse_train", "xpulse", "xpulse_train"})


def walk(expr: Expr) -> Iterator[Expr]:
    """Yield every node of ``expr``, depth first, parents before children."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Op | Call):
            stack.extend(reversed(node.args))
        elif isinstance(node, Lookup):
            stack.append(node.arg)


def references(expr: Expr) -> frozenset[str]:
    """Keys of the variables ``expr`` depends on (``"time"`` included where used).

    Examples
    --------
    >>> references(Op("+", (Ref("a"), Call("step", (Num(1.0), Ref("b"))))))
    frozenset({'a', 'b', 'time'})
    """
    out: set[str] = set()
    for node in walk(expr):
        if isinstance(node, Ref):
            out.add(node.name)
        elif isinstance(node, Call) and node.func in TIME_FUNCTIONS:
            out.add("time")
        elif isinstance(node, Lookup) and node.table is not None:
            out.add(node.table)
    return frozenset(out)

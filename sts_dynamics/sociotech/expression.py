"""A small, safe expression language for objectives and constraints.

``"incidents + 0.1 * cost"``, ``"max(time to resolve, 4) ** 2"``, ``"cost <= 300"``.

Names may contain spaces (``incidents per year``) or be quoted (``"Time to Resolve"``);
``^`` means power, as in Vensim.  The text is tokenized, names are replaced by placeholders,
and the result is parsed with Python's :mod:`ast` module; only these nodes are accepted:
numbers, names, ``+ - * / **``, unary minus and plus, calls of ``min``, ``max`` and ``abs``,
and (in a constraint) one comparison ``<=``, ``<``, ``>=`` or ``>``.  The tree is evaluated by
walking it, on NumPy arrays (one value per run): nothing is ever passed to ``eval`` or
``exec``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["Expression", "parse_expression", "FUNCTIONS"]

#: Functions an expression may call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": lambda *a: _reduce(np.minimum, a), "max": lambda *a: _reduce(np.maximum, a),
    "abs": lambda *a: np.abs(a[0]),
}
_ARITY = {"min": (2, None), "max": (2, None), "abs": (1, 1)}

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![A-Za-z_])
    | (?P<quoted>"[^"]*"|'[^']*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_ ]*)
    | (?P<op>\*\*|<=|>=|==|!=|[-+*/^(),<>])
    )""", re.VERBOSE)

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.divide, ast.Pow: np.power}
_CMPOPS = {ast.LtE: "<=", ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">"}
_ALLOWED = ("numbers, names, + - * / ** (or ^), unary minus, min(...), max(...) and abs(...)")


def _reduce(f, args):
    out = args[0]
    for a in args[1:]:
        out = f(out, a)
    return out


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, the names it uses and its checked syntax tree.

    ``comparison`` is ``None`` for an objective, else ``"<="``, ``"<"``, ``">="`` or ``">"``
    (a constraint: :meth:`residual` is then ``lhs - rhs`` or ``rhs - lhs``, feasible where
    it is ``<= 0``).
    """

    text: str
    names: tuple[str, ...]
    tree: Any
    comparison: str | None = None
    what: str = "objective"

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """Value of the expression (of its left side minus right side for a constraint)
        with ``values[name]`` for each name (numbers or arrays, broadcast together)."""
        ph = {f"_n{i}": values[name] for i, name in enumerate(self.names)}
        with np.errstate(all="ignore"):
            if self.comparison is None:
                return np.asarray(_eval(self.tree.body, ph), dtype=float)
            cmp = self.tree.body
            lhs = _eval(cmp.left, ph)
            rhs = _eval(cmp.comparators[0], ph)
            return np.asarray(lhs - rhs, dtype=float)

    def residual(self, values: Mapping[str, Any]) -> np.ndarray:
        """A constraint's violation: ``<= 0`` where it holds (``< 0`` for strict ones)."""
        d = self.evaluate(values)
        return d if self.comparison in ("<=", "<") else -d

    def __str__(self) -> str:
        return self.text


def _tokenize(text: str, what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:1] or text[pos:pos + 1]
            raise ConfigError(f"{what} {text!r}: unexpected character {bad!r} at position "
                              f"{pos + len(text[pos:]) - len(text[pos:].lstrip())}; use "
                              f"{_ALLOWED}.")
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "name":
            val = " ".join(val.split())
        elif kind == "quoted":
            kind, val = "name", " ".join(val[1:-1].split())
        out.append((kind, val))
        pos = m.end()
    return out


def parse_expression(text: str, *, what: str = "objective", comparison: bool = False
                     ) -> Expression:
    """Parse and check ``text``; names are returned as written (spaces normalized).

    Parameters
    ----------
    text : str
    what : str
        ``"objective"`` or ``"constraint"``, for the messages.
    comparison : bool
        Require one comparison (a constraint) instead of forbidding it.

    Examples
    --------
    >>> e = parse_expression("incidents per year + 0.1 * cost")
    >>> e.names
    ('incidents per year', 'cost')
    >>> float(e.evaluate({"incidents per year": 20.0, "cost": 50.0}))
    25.0
    >>> parse_expression("__import__('os')")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sts_dynamics.errors.ConfigError: objective "__import__('os')": calls of '__import__' ...
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"the {what} must be a non-empty expression such as "
                          f"'incidents + 0.1 * cost', got {text!r}.")
    tokens = _tokenize(text, what)
    names: list[str] = []
    src = []
    for i, (kind, val) in enumerate(tokens):
        if kind == "name":
            nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if nxt == "(":
                if val not in FUNCTIONS:
                    raise ConfigError(f"{what} {text!r}: calls of {val!r} are not allowed; use "
                                      f"{_ALLOWED}.")
                src.append(val)
                continue
            if val not in names:
                names.append(val)
            src.append(f"_n{names.index(val)}")
        elif kind == "op":
            src.append("**" if val == "^" else val)
        else:
            src.append(val)
    code = " ".join(src)
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        raise ConfigError(f"{what} {text!r} is not a valid expression; use {_ALLOWED}"
                          + (", and one comparison such as 'cost <= 300'" if comparison else "")
                          + ".") from None
    body = tree.body
    cmp = None
    if isinstance(body, ast.Compare):
        if not comparison:
            raise ConfigError(f"{what} {text!r}: comparisons belong in constraints; an "
                              "objective is a quantity to minimize.")
        if len(body.ops) != 1 or type(body.ops[0]) not in _CMPOPS:
            raise ConfigError(f"{what} {text!r}: use one comparison, <=, <, >= or >.")
        cmp = _CMPOPS[type(body.ops[0])]
        _check(body.left, text, what)
        _check(body.comparators[0], text, what)
    elif comparison:
        raise ConfigError(f"{what} {text!r} needs a comparison, for example 'cost <= 300' or "
                          "'staffing >= 12'.")
    else:
        _check(body, text, what)
    return Expression(text=text, names=tuple(names), tree=tree, comparison=cmp, what=what)


def _check(node: ast.AST, text: str, what: str) -> None:
    """Accept only the whitelisted nodes."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ConfigError(f"{what} {text!r}: only numbers are allowed as literals, got "
                              f"{node.value!r}.")
        return
    if isinstance(node, ast.Name):
        if not re.fullmatch(r"_n\d+", node.id):
            raise ConfigError(f"{what} {text!r}: {node.id!r} is a function; call it with "
                              "arguments in parentheses.")
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, text, what)
        _check(node.right, text, what)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, text, what)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in FUNCTIONS:
        lo, hi = _ARITY[node.func.id]
        n = len(node.args)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or n < lo or \
                (hi is not None and n > hi):
            need = f"{lo}" if lo == hi else f"at least {lo}"
            raise ConfigError(f"{what} {text!r}: {node.func.id}() takes {need} argument(s), "
                              f"got {n}.")
        for a in node.args:
            _check(a, text, what)
        return
    raise ConfigError(f"{what} {text!r}: {type(node).__name__} is not allowed; use "
                      f"{_ALLOWED}.")


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_eval(a, values) for a in node.args))
    raise ConfigError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover - checked

"""Sociotechnical layers: which layers can control a variance, and whether control is human.

The layers are those of :data:`sts_dynamics.model.LAYERS` (tagged ``[layer: ...]`` in each
variable's documentation, see ``docs/conventions.md``).  They sit in a row: the work system
(how work is organised and loaded) joins the technical subsystem to the social one, and the
environment surrounds the whole organisation::

                      environment
        technical  <->  work system  <->  social

**Adjacency** (docs/sociotech.md, "Joint-optimization gaps"): a variance can be controlled
close to where it arises (Cherns 1976, principle 5: variances controlled as near to their
point of origin as possible) by a loop of its own layer or of an adjacent one:

==============  ==============================================
origin          layers whose loops count as control near it
==============  ==============================================
technical       technical, work system
work system     technical, work system, social
social          social, work system
environment     technical, work system, social, environment
unassigned      any layer (the model does not say)
==============  ==============================================

The environment is adjacent to every organisational layer: the organisation answers its
environment wherever it can.  The converse does not hold: a loop that lies wholly in the
environment (a regulator's catch-up, the pace of technology) is outside the organisation's
design and does not count as control of a variance that arises inside it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ORGANISATION", "ADJACENT", "CONTROL_KINDS", "adjacent_layers", "control_by",
           "near_origin"]

#: The layers of the organisation itself.
ORGANISATION = ("technical", "work system", "social")

#: For each layer of origin, the layers whose loops control a variance near its origin.
ADJACENT: dict[str, frozenset[str]] = {
    "technical": frozenset({"technical", "work system"}),
    "work system": frozenset({"technical", "work system", "social"}),
    "social": frozenset({"social", "work system"}),
    "environment": frozenset({"technical", "work system", "social", "environment"}),
}

#: Values of :func:`control_by`.
CONTROL_KINDS = ("technical", "human", "technical and human", "external", "none")

_HUMAN = frozenset({"social", "work system"})


def adjacent_layers(origin: str) -> frozenset[str]:
    """The layers whose loops count as control of a variance that arises in ``origin``.

    Examples
    --------
    >>> sorted(adjacent_layers("technical"))
    ['technical', 'work system']
    """
    return ADJACENT.get(origin, frozenset(ORGANISATION) | {"environment", "unassigned"})


def control_by(layers: Iterable[str]) -> str:
    """How a loop with variables in ``layers`` controls: by machines, people, both or neither.

    ``"technical"`` when the loop runs through the technical layer only (of the organisation's
    layers), ``"human"`` when it runs through the social or work-system layers only (people
    and the way their work is organised), ``"technical and human"`` when it runs through
    both, ``"external"`` when it lies in the environment, ``"none"`` without a loop.  A loop
    of a model without layer tags is ``"unassigned"``.

    Examples
    --------
    >>> control_by(("technical", "work system"))
    'technical and human'
    >>> control_by(("social",))
    'human'
    """
    s = set(layers)
    if not s:
        return "none"
    tech = "technical" in s
    human = bool(s & _HUMAN)
    if tech and human:
        return "technical and human"
    if tech:
        return "technical"
    if human:
        return "human"
    if "environment" in s:
        return "external"
    return "unassigned"


def near_origin(origin: str, loop_layers: Iterable[str]) -> bool:
    """True when a loop with ``loop_layers`` lies in ``origin``'s layer or an adjacent one.

    Examples
    --------
    >>> near_origin("technical", ("social",))
    False
    >>> near_origin("technical", ("social", "work system"))
    True
    """
    layers = set(loop_layers)
    if origin == "unassigned" or "unassigned" in layers:
        return bool(layers)
    return bool(layers & adjacent_layers(origin))

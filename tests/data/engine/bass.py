"""
Python model 'bass.py'
Translated using PySD
"""

from pathlib import Path
import numpy as np

from pysd.py_backend.statefuls import Integ
from pysd import Component

__pysd_version__ = "3.14.3"

__data = {"scope": None, "time": lambda: 0}

_root = Path(__file__).parent


component = Component()

#######################################################################
#                          CONTROL VARIABLES                          #
#######################################################################

_control_vars = {
    "initial_time": lambda: 0,
    "final_time": lambda: 40,
    "time_step": lambda: 0.0625,
    "saveper": lambda: 0.5,
}


def _init_outer_references(data):
    for key in data:
        __data[key] = data[key]


@component.add(name="Time")
def time():
    """
    Current time of the model.
    """
    return __data["time"]()


@component.add(
    name="FINAL TIME", units="Time", comp_type="Constant", comp_subtype="Normal"
)
def final_time():
    """
    The final time for the simulation.
    """
    return __data["time"].final_time()


@component.add(
    name="INITIAL TIME", units="Time", comp_type="Constant", comp_subtype="Normal"
)
def initial_time():
    """
    The initial time for the simulation.
    """
    return __data["time"].initial_time()


@component.add(
    name="SAVEPER",
    units="Time",
    limits=(0.0, np.nan),
    comp_type="Constant",
    comp_subtype="Normal",
)
def saveper():
    """
    The frequency with which output is stored.
    """
    return __data["time"].saveper()


@component.add(
    name="TIME STEP",
    units="Time",
    limits=(0.0, np.nan),
    comp_type="Constant",
    comp_subtype="Normal",
)
def time_step():
    """
    The time step for the simulation.
    """
    return __data["time"].time_step()


#######################################################################
#                           MODEL VARIABLES                           #
#######################################################################


@component.add(
    name="Potential Adopters",
    units="people",
    comp_type="Stateful",
    comp_subtype="Integ",
    depends_on={"_integ_potential_adopters": 1},
    other_deps={
        "_integ_potential_adopters": {
            "initial": {"total_market": 1},
            "step": {"adoption_rate": 1},
        }
    },
)
def potential_adopters():
    return _integ_potential_adopters()


_integ_potential_adopters = Integ(
    lambda: -adoption_rate(), lambda: total_market() - 1, "_integ_potential_adopters"
)


@component.add(
    name="Adopters",
    units="people",
    comp_type="Stateful",
    comp_subtype="Integ",
    depends_on={"_integ_adopters": 1},
    other_deps={"_integ_adopters": {"initial": {}, "step": {"adoption_rate": 1}}},
)
def adopters():
    return _integ_adopters()


_integ_adopters = Integ(lambda: adoption_rate(), lambda: 1, "_integ_adopters")


@component.add(
    name="Adoption Rate",
    units="people/Time",
    comp_type="Auxiliary",
    comp_subtype="Normal",
    depends_on={"innovation": 1, "imitation": 1},
)
def adoption_rate():
    return innovation() + imitation()


@component.add(
    name="Innovation",
    units="people/Time",
    comp_type="Auxiliary",
    comp_subtype="Normal",
    depends_on={"advertising_effectiveness": 1, "potential_adopters": 1},
)
def innovation():
    return advertising_effectiveness() * potential_adopters()


@component.add(
    name="Imitation",
    units="people/Time",
    comp_type="Auxiliary",
    comp_subtype="Normal",
    depends_on={
        "contact_rate": 1,
        "adoption_fraction": 1,
        "adopters": 1,
        "potential_adopters": 1,
        "total_market": 1,
    },
)
def imitation():
    return (
        contact_rate()
        * adoption_fraction()
        * adopters()
        * potential_adopters()
        / total_market()
    )


@component.add(
    name="Advertising Effectiveness",
    units="1/Time",
    comp_type="Constant",
    comp_subtype="Normal",
)
def advertising_effectiveness():
    return 0.01


@component.add(
    name="Contact Rate", units="1/Time", comp_type="Constant", comp_subtype="Normal"
)
def contact_rate():
    return 10


@component.add(
    name="Adoption Fraction", units="dmnl", comp_type="Constant", comp_subtype="Normal"
)
def adoption_fraction():
    return 0.03


@component.add(
    name="Total Market", units="people", comp_type="Constant", comp_subtype="Normal"
)
def total_market():
    return 10000

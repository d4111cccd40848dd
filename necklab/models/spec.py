"""What a neck's file states to register itself: its spec (reference, standard configuration and
parameter count) and the controls a learner may change in the app.

A neck module lists its specs in a module-level `SPECS`; `necklab.models.registry` collects them.
The words of a neck live in the language files under keys derived from its registry key
(`lesson.idea.<key>`), not here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from necklab.models.layers import Neck

STANDARD_FPN: Mapping[str, Any] = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)


MAX_LIST_TEXT = 200  # characters a typed list of numbers may have: far more than `longest` numbers need


@dataclass(frozen=True)
class Control:
    """A configuration argument a learner may change in the app: integer slider, choice, or a list
    of integers typed as text (e.g. atrous rates)."""

    arg: str
    label_key: str  # its label is the language files' `control.<label_key>`
    kind: str  # "int" | "choice" | "ints"
    default: Any
    choices: tuple[Any, ...] = ()
    choice_keys: tuple[str, ...] = ()  # the choices' labels (`control.<key>`); default: the values themselves
    minimum: int = 1
    maximum: int = 512
    step: int = 1
    longest: int = 6  # how many numbers an "ints" list may hold: each one is a branch to run and draw


@dataclass(frozen=True)
class NeckSpec:
    name: str  # the registry key
    title: str
    build: Callable[..., Neck]
    paper: str
    reference_source: str
    reference_config: Mapping[str, Any]  # the standard configuration of REFERENCES.md
    reference_params: int  # parameters of that configuration in the reference implementation
    notes: str = ""  # what Compare remarks on the neck: a key under `compare.note` in the language files
    tab: str = ""  # the app tab showing this neck (necks of one tab share it); default: its title
    controls: tuple[Control, ...] = ()
    order: int = 1000  # where the neck sits in the app's tabs and in Compare (lower first)
    task: str = "detect"  # what it is trained for: "detect" (boxes per level), "segment" (ASPP), "" (no weights)

    @property
    def tab_title(self) -> str:
        return self.tab or self.title

    @property
    def defaults(self) -> dict[str, Any]:
        """The configuration its tab starts with: its controls' defaults (trained weights are for it)."""
        return {control.arg: control.default for control in self.controls}


# Controls several necks share.
OUT_CHANNELS = Control("out_channels", "output_channels", "int", 64, minimum=16, maximum=256, step=16)
EXTRA_CONVS = Control("add_extra_convs", "extra_levels_from", "choice", False,
                      choices=(False, "on_input", "on_output"),
                      choice_keys=("max_pool_of_the_top_output_no_conv", "3x3_s2_conv_on_c5",
                                   "3x3_s2_conv_on_the_top_output"))
NUM_OUTS = Control("num_outs", "output_levels", "int", 5, minimum=4, maximum=6)

"""The Step: one mutation of one cloud resource, as a diff emits it and `plan` prints it.

Guarantees for every provider's steps:
- a step is a frozen value naming the resource kind, its name, the verb and
  everything the call will send, so the executor has no decisions left to
  make and `plan` can print what `ensure` would do without doing it;
- a diff returns steps in the order they must run (what a resource refers
  to exists before it; nothing is deleted while something still uses it),
  and applying them in that order is safe to interrupt anywhere: the next
  reconcile reads what exists and diffs again;
- `changes` renders steps as the provider-neutral `Change`s of `lbctl plan`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from lbcommon.model import Change


class Step(Protocol):
    """What the shared executor and `plan` need of a provider's step."""

    @property
    def kind(self) -> str:
        """The resource kind, as the provider names it (`targetPools`, `target-group`)."""
        ...

    @property
    def name(self) -> str:
        """The resource's name."""
        ...

    def change(self) -> Change:
        """The step as one line of `lbctl plan`."""
        ...


def changes(steps: Iterable[Step]) -> list[Change]:
    return [step.change() for step in steps]

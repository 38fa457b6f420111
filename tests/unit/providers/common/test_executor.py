"""The one executor: ordered steps, Replan on a changed world, a bounded converge loop."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lbcommon.errors import ConflictError, LbctlError, ProviderError, ResourceMissingError
from lbcommon.model import Action, Change
from lbctl.providers.common.executor import MAX_ROUNDS, Executor, Replan, converge

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Poke:
    name: str
    kind: str = "thing"

    def change(self) -> Change:
        return Change(Action.UPDATE, self.kind, self.name)


def test_steps_run_in_order_each_after_its_before_hook() -> None:
    seen: list[str] = []
    executor: Executor[Poke] = Executor(
        provider="test",
        apply=lambda step, service: seen.append(f"apply {step.name} for {service}"),
        before=lambda step: seen.append(f"before {step.name}"),
    )
    executor.run([Poke("a"), Poke("b")], service="ns/web")
    assert seen == ["before a", "apply a for ns/web", "before b", "apply b for ns/web"]


@pytest.mark.parametrize(
    ("error", "replan", "raised"),
    [
        (ResourceMissingError("gone"), True, Replan),
        (ConflictError("exists"), True, Replan),
        (ConflictError("in use"), False, ConflictError),
        (ProviderError("bad request"), True, ProviderError),
    ],
    ids=["missing", "conflict", "conflict-not-replanned", "permanent"],
)
def test_a_changed_world_means_replan(
    error: LbctlError, replan: bool, raised: type[Exception]
) -> None:
    applied: list[str] = []

    def apply(step: Poke, service: str) -> None:
        applied.append(step.name)
        if step.name == "a":
            raise error

    executor: Executor[Poke] = Executor(
        provider="test", apply=apply, replan=lambda step, err: replan
    )
    with pytest.raises(raised):
        executor.run([Poke("a"), Poke("b")], service="ns/web")
    assert applied == ["a"]  # stops at the first failure


def test_converge_rounds_until_done_and_replans() -> None:
    rounds: list[int] = []

    def round_() -> bool:
        rounds.append(1)
        if len(rounds) == 1:
            raise Replan("changed under us")
        return len(rounds) == 3

    converge(round_, service="ns/web", provider="test")
    assert len(rounds) == 3


def test_converge_is_bounded() -> None:
    rounds: list[int] = []

    def round_() -> bool:
        rounds.append(1)
        raise Replan("always changing")

    with pytest.raises(ConflictError):
        converge(round_, service="ns/web", provider="test")
    assert len(rounds) == MAX_ROUNDS

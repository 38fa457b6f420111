"""The one executor: apply a diff's steps in order, and the bounded read-diff-apply loop.

Guarantees:
- `Executor.run` applies steps one at a time, in the order given, and stops
  at the first failure; before each step it calls the provider's `before`
  hook (which marks the resource dirty in the provider's read cache, so
  whatever happens next, a crash included, the next reader re-reads it)
  and logs the step with the Service key and the provider;
- a step that finds the world other than the diff assumed (the resource is
  missing, already exists, or changed under us: ResourceMissingError or
  ConflictError, where the provider's `replan` agrees) raises `Replan`, so
  the caller re-reads and diffs again: what exists is adopted, never
  duplicated;
- `converge` runs one read-diff-apply round after another until a round
  reports that nothing differs, at most `MAX_ROUNDS` times; a `Replan`
  starts the next round; a world that keeps changing ends in ConflictError
  (the work queue retries later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from lbcommon.errors import ConflictError, LbctlError, ResourceMissingError
from lbctl.providers.common.steps import Step

log = logging.getLogger(__name__)

#: read-diff-apply rounds per call before giving up with ConflictError
MAX_ROUNDS = 6

S = TypeVar("S", bound=Step)


class Replan(Exception):  # noqa: N818 (a signal, not an error)
    """What exists differs from what the plan assumed: read again and re-plan."""


def _always(step: object, error: LbctlError) -> bool:
    return True


class Executor(Generic[S]):
    """Applies one provider's steps; `apply(step, service)` performs one step against the API."""

    def __init__(
        self,
        *,
        provider: str,
        apply: Callable[[S, str], None],
        before: Callable[[S], None] = lambda step: None,
        replan: Callable[[S, LbctlError], bool] = _always,
    ) -> None:
        """`before(step)` runs ahead of each call; `replan(step, error)` says whether a
        missing or conflicting resource means "read again" (else it is raised)."""
        self.provider = provider
        self._apply = apply
        self._before = before
        self._replan = replan

    def run(self, steps: Sequence[S], *, service: str) -> None:
        for step in steps:
            change = step.change()
            log.info(
                "%s %s %s",
                change.action.value,
                step.kind,
                step.name,
                extra={"service": service, "provider": self.provider, "detail": change.detail},
            )
            self._before(step)
            try:
                self._apply(step, service)
            except (ResourceMissingError, ConflictError) as err:
                if self._replan(step, err):
                    raise Replan(str(err)) from err
                raise


def converge(round_: Callable[[], bool], *, service: str, provider: str) -> None:
    """Call `round_` (read, diff, apply; True once nothing differs) until it is done."""
    for _ in range(MAX_ROUNDS):
        try:
            if round_():
                return
        except Replan as err:
            log.info("re-planning: %s", err, extra={"service": service, "provider": provider})
    raise ConflictError(f"{service}: resources kept changing; will retry")

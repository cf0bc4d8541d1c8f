"""The place-order saga, declared as a table of (step, compensation).

Forward steps run top to bottom. When one fails, the compensations of the steps before it
run bottom to top. A step whose outcome is unknown (it timed out, or kept failing with
5xx until the deadline) may have happened, so its own compensation runs too, first.

ConfirmOrder is the pivot. Its compensation is CancelOrder: should the confirm's outcome be
unknown, cancelling the order settles it either way. Either the cancel wins (and a late
confirm will be refused), or the cancel is refused because the confirm did land, and the
saga has in fact succeeded.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    compensation: str | None


PLACE_ORDER: tuple[Step, ...] = (
    Step("CreateOrder", compensation="CancelOrder"),
    Step("ReserveInventory", compensation="ReleaseInventory"),
    Step("ConfirmOrder", compensation="CancelOrder"),
)

STEP_NAMES = tuple(s.name for s in PLACE_ORDER)


def compensations_after_failure(failed_index: int, *, outcome_unknown: bool) -> list[str]:
    """Which compensations to run, in order, after forward step ``failed_index`` failed."""
    last = failed_index if outcome_unknown else failed_index - 1
    names = [PLACE_ORDER[i].compensation for i in range(last, -1, -1)]
    return list(dict.fromkeys(n for n in names if n))  # each compensation once

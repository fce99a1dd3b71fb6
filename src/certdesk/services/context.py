"""What every use case needs: the store, the clock, and who is acting."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from certdesk.store.database import Store

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Context:
    """Passed to every service call; tests swap the clock to travel in time."""

    store: Store
    actor: str
    clock: Clock = system_clock

    def now(self) -> dt.datetime:
        return self.clock()

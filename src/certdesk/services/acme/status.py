"""What `acme status` shows: every managed certificate and its renewal state.

The state, next renewal and its reason are what the renewal scheduler last
wrote on the row (`services/renewal.py`); `superseded_certificate_id` is a
certificate a renewal replaced, kept until every server serves its successor.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from certdesk.services.context import Context
from certdesk.services.views import json_time
from certdesk.store import acme as stored_acme


@dataclass(frozen=True)
class ManagedView:
    managed_id: int
    certificate_id: int
    name: str
    identifiers: tuple[str, ...]
    directory: str
    key_type: str
    state: str
    not_after: dt.datetime
    days_left: int
    next_renewal_at: dt.datetime | None
    next_renewal_reason: str | None
    last_attempt_at: dt.datetime | None
    last_error: str | None
    failures: int
    last_success_at: dt.datetime | None = None
    retry_not_before: dt.datetime | None = None
    rate_limited: bool = False
    superseded_certificate_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "managed_id": self.managed_id,
            "certificate_id": self.certificate_id,
            "name": self.name,
            "identifiers": list(self.identifiers),
            "directory": self.directory,
            "key_type": self.key_type,
            "state": self.state,
            "not_after": json_time(self.not_after),
            "days_left": self.days_left,
            "next_renewal_at": json_time(self.next_renewal_at),
            "next_renewal_reason": self.next_renewal_reason,
            "last_attempt_at": json_time(self.last_attempt_at),
            "last_error": self.last_error,
            "failures": self.failures,
            "last_success_at": json_time(self.last_success_at),
            "retry_not_before": json_time(self.retry_not_before),
            "rate_limited": self.rate_limited,
            "superseded_certificate_id": self.superseded_certificate_id,
        }


def list_managed(ctx: Context) -> list[ManagedView]:
    now = ctx.now()
    with ctx.store.transaction() as session:
        found = []
        for managed, cert in stored_acme.list_managed(session):
            account = stored_acme.get_account(session, managed.account_id)
            found.append(
                ManagedView(
                    managed_id=managed.id,
                    certificate_id=cert.id,
                    name=cert.name,
                    identifiers=tuple(managed.identifiers),
                    directory=account.directory_url,
                    key_type=managed.key_type,
                    state=managed.state,
                    not_after=cert.not_after,
                    days_left=(cert.not_after - now).days,
                    next_renewal_at=managed.next_renewal_at,
                    next_renewal_reason=managed.next_renewal_reason,
                    last_attempt_at=managed.last_attempt_at,
                    last_error=managed.last_error,
                    failures=managed.failures,
                    last_success_at=managed.last_success_at,
                    retry_not_before=managed.retry_not_before,
                    rate_limited=managed.rate_limited,
                    superseded_certificate_id=managed.superseded_certificate_id,
                )
            )
        return found

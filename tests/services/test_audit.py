"""Reading the audit trail: the filters and id-based paging of the audit log."""

from typing import Any

from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import audit, certificates
from certdesk.services.context import Context
from tests.conftest import FakeClock

CREATED = "certificate.created"


def _make(ctx: Context, name: str, actor: str = "user:alice") -> None:
    """A certificate made by `actor`, so the factory default's event is apart."""
    as_actor = Context(ctx.store, actor=actor, clock=ctx.clock)
    subject = check_subject(common_name="www.example.test")
    certificates.create_self_signed(
        as_actor, name=name, key_type=KeyType.P256, subject=subject
    )


def _names(ctx: Context, **where: Any) -> list[str | None]:
    where.setdefault("actor", "user:")
    found = audit.list_events(ctx, action=CREATED, **where)
    return [e["object_name"] for e in found]


def test_filters_combine_and_ignore_case(ctx: Context, clock: FakeClock) -> None:
    _make(ctx, "Alpha")
    clock.advance(days=2)
    _make(ctx, "beta_1")
    _make(ctx, "Gamma", actor="user:carol")

    assert _names(ctx) == ["Gamma", "beta_1", "Alpha"]
    assert _names(ctx, actor="CAROL") == ["Gamma"]
    assert _names(ctx, object_name="alp") == ["Alpha"]
    # '_' and '%' are characters to match, not LIKE wildcards.
    assert _names(ctx, object_name="a_1") == ["beta_1"]
    assert _names(ctx, object_name="a%") == []
    assert audit.list_events(ctx, action="certificate.cre%") == []

    midnight = clock.now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert _names(ctx, since=midnight) == ["Gamma", "beta_1"]
    assert _names(ctx, until=midnight) == ["Alpha"]


def test_pages_by_id_stay_put_while_events_arrive(ctx: Context) -> None:
    for number in range(5):
        _make(ctx, f"c{number}")
    first = audit.list_events(ctx, action=CREATED, limit=2)
    assert first[0]["actor"] == "user:alice"
    assert [e["object_name"] for e in first] == ["c4", "c3"]
    older = audit.list_events(ctx, action=CREATED, limit=2, before_id=first[-1]["id"])
    assert [e["object_name"] for e in older] == ["c2", "c1"]

    _make(ctx, "late")
    again = audit.list_events(ctx, action=CREATED, limit=2, before_id=first[-1]["id"])
    assert again == older
    newer = audit.list_events(ctx, action=CREATED, limit=2, after_id=older[0]["id"])
    assert [e["object_name"] for e in newer] == ["c4", "c3"]

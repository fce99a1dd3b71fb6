import datetime as dt

import pytest

from certdesk.pki.selection import Reason, Servable, ServedSet, passed_over_because
from tests.pkitools import NOW

DAY = dt.timedelta(days=1)


def _cert(
    cert_id: int,
    *names: str,
    start: dt.datetime = NOW - DAY,
    end: dt.datetime = NOW + 90 * DAY,
    complete: bool = True,
) -> Servable:
    return Servable(cert_id, f"cert {cert_id}", names, start, end, complete)


SITE = _cert(1, "www.example.com", "example.com")
WILD = _cert(2, "*.example.com")
DEFAULT = _cert(3, "fallback.test")
SERVED = ServedSet([SITE, WILD, DEFAULT], default_id=3)


@pytest.mark.parametrize(
    ("asked", "expected", "reason"),
    [
        ("www.example.com", 1, Reason.EXACT),
        ("WWW.Example.COM.", 1, Reason.EXACT),
        ("example.com", 1, Reason.EXACT),
        ("a.example.com", 2, Reason.WILDCARD),
        ("a.b.example.com", 3, Reason.DEFAULT),
        ("example.org", 3, Reason.DEFAULT),
        ("", 3, Reason.DEFAULT),
        (None, 3, Reason.DEFAULT),
        ("*.example.com", 3, Reason.DEFAULT),
    ],
)
def test_exact_then_wildcard_then_default(
    asked: str | None, expected: int, reason: Reason
) -> None:
    choice = SERVED.choose(asked, NOW)
    assert choice.certificate is not None
    assert (choice.certificate.id, choice.reason) == (expected, reason)


def test_exact_beats_a_wildcard_that_also_covers_the_name() -> None:
    served = ServedSet([WILD, _cert(9, "api.example.com")], default_id=None)
    choice = served.choose("api.example.com", NOW)
    assert choice.certificate is not None
    assert choice.certificate.id == 9


def test_internationalised_names_match_in_a_label_form() -> None:
    served = ServedSet([_cert(4, "xn--bcher-kva.example")], default_id=None)
    choice = served.choose("bücher.example", NOW)
    assert choice.certificate is not None
    assert choice.reason is Reason.EXACT


def test_valid_beats_not_yet_valid_beats_expired() -> None:
    expired = _cert(5, "a.test", start=NOW - 100 * DAY, end=NOW - DAY)
    future = _cert(6, "a.test", start=NOW + DAY, end=NOW + 100 * DAY)
    valid = _cert(7, "a.test", end=NOW + 10 * DAY)
    served = ServedSet([expired, future, valid], default_id=None)
    choice = served.choose("a.test", NOW)
    assert [c.id for c in (choice.certificate, *choice.passed_over) if c] == [7, 6, 5]
    assert passed_over_because(valid, expired, NOW) == "expired"
    assert passed_over_because(valid, future, NOW) == "not yet valid"

    only_bad = ServedSet([expired, future], default_id=None).choose("a.test", NOW)
    assert only_bad.certificate == future


def test_complete_chain_then_latest_expiry() -> None:
    incomplete = _cert(8, "b.test", end=NOW + 300 * DAY, complete=False)
    short = _cert(9, "b.test", end=NOW + 30 * DAY)
    long = _cert(10, "b.test", end=NOW + 200 * DAY)
    choice = ServedSet([incomplete, short, long], default_id=None).choose("b.test", NOW)
    assert choice.certificate == long
    assert [c.id for c in choice.passed_over] == [9, 8]
    assert passed_over_because(long, incomplete, NOW) == "chain incomplete"
    assert passed_over_because(long, short, NOW) == "expires sooner"


def test_nothing_to_serve_without_default() -> None:
    choice = ServedSet([SITE], default_id=None).choose("other.test", NOW)
    assert choice.certificate is None
    assert choice.reason is Reason.NONE

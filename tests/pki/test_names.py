import ipaddress

import pytest

from certdesk.errors import InvalidInput
from certdesk.pki.names import check_country, check_dns_name, check_subject


@pytest.mark.parametrize("code", ["US", "de", " gb ", "JP", "AQ"])
def test_real_country_codes_are_accepted(code: str) -> None:
    assert check_country(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["XX", "UK", "USA", "U", "ZZ", "EU"])
def test_codes_outside_iso_3166_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_country(code)
    assert info.value.field == "country"


def test_country_is_optional() -> None:
    assert check_country(None) is None
    assert check_country("  ") is None


def test_two_letter_state_warns_and_full_name_does_not() -> None:
    short = check_subject(common_name="Support", state="CA", sans=["a.example.com"])
    full = check_subject(
        common_name="Support", state="California", sans=["a.example.com"]
    )
    assert any("abbreviation" in w for w in short.warnings)
    assert not any("abbreviation" in w for w in full.warnings)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Support.Example.COM", "support.example.com"),
        ("support.example.com.", "support.example.com"),
        ("*.example.com", "*.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("a-b.example.com", "a-b.example.com"),
    ],
)
def test_dns_names_are_normalised(given: str, stored: str) -> None:
    assert check_dns_name(given) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "a..example.com",
        "-a.example.com",
        "a-.example.com",
        "a_b.example.com",
        "www.*.example.com",
        "w*.example.com",
        "*.com",
        "*",
        "a" * 64 + ".example.com",
        ".".join(["a" * 60] * 5),
        "exa mple.com",
    ],
)
def test_bad_dns_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_dns_name(bad)
    assert info.value.field == "san"


def test_dns_common_name_becomes_first_san() -> None:
    spec = check_subject(
        common_name="support.example.com",
        sans=["www.example.com", "support.example.com"],
    )
    assert spec.dns_names == ("support.example.com", "www.example.com")


def test_label_common_name_is_not_added_as_san() -> None:
    spec = check_subject(common_name="Support Portal", sans=["support.example.com"])
    assert spec.dns_names == ("support.example.com",)


def test_ip_sans_are_allowed_with_a_warning() -> None:
    spec = check_subject(common_name="Box", sans=["192.0.2.7", "[2001:db8::1]"])
    assert spec.ip_addresses == (
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::1"),
    )
    assert any("IP address" in w for w in spec.warnings)


def test_duplicate_sans_are_kept_once() -> None:
    spec = check_subject(common_name=None, sans=["a.example.com", "A.example.com."])
    assert spec.dns_names == ("a.example.com",)


def test_a_name_or_san_is_required() -> None:
    with pytest.raises(InvalidInput):
        check_subject(common_name=None, sans=[])


def test_overlong_fields_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        check_subject(common_name="x" * 65, sans=["a.example.com"])
    assert info.value.field == "cn"


def test_common_name_limit_counts_utf8_bytes() -> None:
    """64 characters of 'é' are 128 bytes: the encoder would refuse them."""
    fits = check_subject(common_name="é" * 32)
    assert fits.x509_name() is not None

    with pytest.raises(InvalidInput) as caught:
        check_subject(common_name="é" * 40)
    assert caught.value.field == "cn"
    assert "80 bytes in UTF-8" in caught.value.reason


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "\ud800"])
def test_subject_fields_refuse_control_characters(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_subject(common_name="ok.example.test", org=value)
    assert caught.value.field == "org"

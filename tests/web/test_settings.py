from pathlib import Path

import pytest

from certdesk.errors import InvalidInput
from certdesk.web.settings import Address, load, parse_address


def test_defaults_are_unprivileged(tmp_path: Path) -> None:
    chosen = load(tmp_path, None, None)
    assert chosen.https == Address("0.0.0.0", 8443)
    assert chosen.http == Address("0.0.0.0", 8080)


def test_flag_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "certdesk.toml").write_text(
        '[serve]\nhttps_listen = "127.0.0.1:443"\nhttp_listen = "127.0.0.1:80"\n'
    )
    assert load(tmp_path, None, None).https == Address("127.0.0.1", 443)
    monkeypatch.setenv("CERTDESK_HTTPS_LISTEN", "127.0.0.2:9443")
    chosen = load(tmp_path, None, None)
    assert chosen.https == Address("127.0.0.2", 9443)
    assert chosen.http == Address("127.0.0.1", 80)
    assert load(tmp_path, "[::1]:7443", None).https == Address("::1", 7443)


@pytest.mark.parametrize(
    "bad", ["8443", "host:99999", "example.com:443", ":443", "a:b"]
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_address(bad, "https_listen")


def test_broken_config_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "certdesk.toml").write_text("[serve\n")
    with pytest.raises(InvalidInput, match=r"certdesk\.toml"):
        load(tmp_path, None, None)

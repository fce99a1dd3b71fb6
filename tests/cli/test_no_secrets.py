"""No key material or passphrase reaches the log, an error or an event."""

import json
from pathlib import Path

from tests.clitools import PASSPHRASE
from tests.conftest import RunCli
from tests.pkitools import three_levels


def _secret_lines(pem: bytes) -> list[str]:
    return [line.decode() for line in pem.splitlines()[1:-1] if len(line) > 20]


def test_keys_and_passphrases_stay_out_of_logs_errors_and_events(
    run_cli: RunCli, tmp_path: Path, passphrase_file: Path
) -> None:
    assert run_cli("init").code == 0
    levels = three_levels("secret.example.test")
    key_pem = levels.leaf.key_pem
    (tmp_path / "site.pem").write_bytes(levels.leaf.pem)
    (tmp_path / "site.key").write_bytes(key_pem)

    # A damaged key: the error must not quote it.
    damaged = key_pem.replace(key_pem.splitlines()[2], b"!" * 64)
    (tmp_path / "broken.key").write_bytes(damaged)
    broken = run_cli(
        "--log-level", "debug", "cert", "import", str(tmp_path / "broken.key")
    )
    assert broken.code == 1

    imported = run_cli(
        "--log-level", "debug", "cert", "import",
        str(tmp_path / "site.pem"), str(tmp_path / "site.key"), "--json",
    )  # fmt: skip
    assert imported.code == 0, imported.err
    cert_id = json.loads(imported.out)["items"][0]["id"]
    exported = run_cli(
        "--log-level", "debug", "cert", "export", str(cert_id), "--format", "p12",
        "--key", "--passphrase-file", str(passphrase_file),
        "--out", str(tmp_path / "out.p12"),
    )  # fmt: skip
    assert exported.code == 0, exported.err
    events = run_cli("event", "list", "--limit", "1000", "--json").out

    seen = "\n".join(
        [broken.out, broken.err, imported.out, imported.err, exported.out,
         exported.err, events]
    )  # fmt: skip
    assert "-----BEGIN" not in seen  # no PEM block of any kind
    assert PASSPHRASE not in seen
    for line in _secret_lines(key_pem) + _secret_lines(damaged):
        assert line not in seen

"""The command-line contract scripts rely on: exit codes and JSON fields."""

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.conftest import RunCli
from tests.pkitools import three_levels

CERT_FIELDS = {
    "id",
    "name",
    "subject",
    "issuer",
    "sans",
    "not_before",
    "not_after",
    "fingerprint_sha256",
    "has_key",
    "is_default",
    "role",
    "chain",
    "chain_status",
    "warnings",
}


def test_list_json_has_the_stable_fields(run_cli: RunCli) -> None:
    run_cli("init")
    result = run_cli("cert", "list", "--json")
    assert result.code == 0
    [factory] = json.loads(result.out)
    assert set(factory) >= CERT_FIELDS
    assert factory["chain"][0]["fingerprint_sha256"] == factory["fingerprint_sha256"]
    assert factory["chain_status"] == "self-signed"
    assert {w["code"] for w in factory["warnings"]} >= {
        "factory-default",
        "self-signed",
    }


def test_self_signed_checks_input_like_a_ca(run_cli: RunCli) -> None:
    run_cli("init")
    bad = run_cli("cert", "self-signed", "--name", "x", "--country", "XX", "--cn", "a")
    assert bad.code == 1
    assert "country" in bad.err
    assert "Traceback" not in bad.err

    good = run_cli(
        "cert",
        "self-signed",
        "--name",
        "Portal",
        "--key",
        "p384",
        "--country",
        "us",
        "--state",
        "CA",
        "--cn",
        "portal.example.test",
        "--san",
        "www.example.test",
        "--days",
        "30",
        "--json",
    )
    assert good.code == 0, good.err
    data = json.loads(good.out)
    assert data["sans"] == ["portal.example.test", "www.example.test"]
    assert data["key"]["label"] == "ECDSA P-384"
    assert any("abbreviation" in w for w in data["input_warnings"])


def test_usage_errors_exit_2(run_cli: RunCli) -> None:
    run_cli("init")
    assert run_cli("cert", "self-signed").code == 2  # --name missing
    assert run_cli("cert", "self-signed", "--name", "a", "--key", "dsa1024").code == 2
    assert run_cli("cert", "nonsense").code == 2
    assert run_cli("cert", "import").code == 2


def test_rejections_exit_1_with_reason(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("init")
    missing = run_cli("cert", "show", "42")
    assert missing.code == 1
    assert "no certificate '42'" in missing.err
    garbage = tmp_path / "garbage.crt"
    garbage.write_bytes(b"\x00\x01 definitely not a certificate")
    rejected = run_cli("cert", "import", str(garbage))
    assert rejected.code == 1
    assert "garbage.crt" in rejected.err


def test_commands_need_an_initialised_data_dir(run_cli: RunCli) -> None:
    result = run_cli("cert", "list")
    assert result.code == 1
    assert "certdesk init" in result.err


def test_request_flow_and_pem(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("init")
    created = run_cli(
        "request",
        "create",
        "--name",
        "Support CSR",
        "--key",
        "rsa2048",
        "--cn",
        "Support",
        "--san",
        "support.example.test",
        "--json",
    )
    assert created.code == 0, created.err
    request_id = json.loads(created.out)["id"]
    pem = run_cli("request", "show", str(request_id), "--pem")
    assert pem.out.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert run_cli("request", "show", "Support CSR", "--json").code == 0
    listed = json.loads(run_cli("request", "list", "--json").out)
    assert [r["status"] for r in listed] == ["pending"]
    assert run_cli("request", "delete", str(request_id)).code == 0
    assert json.loads(run_cli("request", "list", "--json").out) == []


def test_import_reports_objects_and_duplicates(run_cli: RunCli, tmp_path: Path) -> None:
    run_cli("init")
    levels = three_levels()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(levels.leaf.pem + levels.intermediate.pem + levels.root.pem)
    first = json.loads(run_cli("cert", "import", str(bundle), "--json").out)
    assert sorted(i["role"] for i in first["items"]) == [
        "intermediate",
        "root",
        "server",
    ]
    assert {i["outcome"] for i in first["items"]} == {"created"}
    again = run_cli("cert", "import", str(bundle))
    assert again.code == 0
    assert again.out.count("already-present") == 3


def test_default_and_delete(run_cli: RunCli) -> None:
    run_cli("init")
    made = json.loads(
        run_cli(
            "cert", "self-signed", "--name", "New", "--cn", "n.example.test", "--json"
        ).out
    )
    refused = run_cli("cert", "delete", "1")
    assert refused.code == 1
    assert "default" in refused.err
    assert run_cli("cert", "default", str(made["id"])).code == 0
    assert run_cli("cert", "delete", "1").code == 0
    events = json.loads(run_cli("event", "list", "--json").out)
    assert events[0]["action"] == "certificate.deleted"


def test_console_script_runs_with_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "certdesk.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for group in ("cert", "request", "event", "init"):
        assert group in result.stdout


@pytest.mark.parametrize("group", ["cert", "request", "event", "user", "token", "acme"])
def test_every_command_offers_json(run_cli: RunCli, group: str) -> None:
    from certdesk.cli.main import cli

    command = cli.get_command(click.Context(cli), group)
    assert isinstance(command, click.Group)
    for name, sub in command.commands.items():
        options = {o for p in sub.params for o in getattr(p, "opts", [])}
        assert "--json" in options, f"{group} {name}"


def test_rekey_request_copies_subject_from_a_certificate(run_cli: RunCli) -> None:
    run_cli("init")
    made = run_cli(
        "cert",
        "self-signed",
        "--name",
        "Old",
        "--country",
        "DE",
        "--org",
        "Example",
        "--cn",
        "old.example.test",
        "--san",
        "alt.example.test",
        "--json",
    )
    old = json.loads(made.out)
    result = run_cli(
        "request",
        "create",
        "--name",
        "Rekey",
        "--from",
        str(old["id"]),
        "--key",
        "p384",
        "--json",
    )
    assert result.code == 0, result.err
    request = json.loads(result.out)
    assert request["sans"] == ["old.example.test", "alt.example.test"]
    assert "O=Example" in request["subject"]
    assert "C=DE" in request["subject"]
    assert request["key"] == "ECDSA 384"


def test_which_names_the_certificate_and_the_rule(run_cli: RunCli) -> None:
    run_cli("init")
    made = json.loads(
        run_cli(
            "cert", "self-signed", "--name", "Wild", "--key", "p256",
            "--cn", "Wildcard", "--san", "*.example.test", "--json",
        ).out
    )  # fmt: skip
    wildcard = json.loads(run_cli("cert", "which", "a.example.test", "--json").out)
    assert wildcard["reason"] == "wildcard"
    assert wildcard["certificate"]["id"] == made["id"]

    fallback = json.loads(run_cli("cert", "which", "a.b.example.test", "--json").out)
    assert fallback["reason"] == "default"
    assert fallback["certificate"]["id"] == 1

    no_sni = run_cli("cert", "which")
    assert no_sni.code == 0
    assert "(no SNI): certificate 1" in no_sni.out

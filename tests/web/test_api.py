"""The REST API end to end: real tokens, the in-process site, real services.

Every operation is called as an admin and as an auditor; bodies are compared
with the CLI's `--json` output; exports are read back by `openssl`; errors
carry their status and a message; no secret is ever in an answer or a log.
"""

import datetime as dt
import html
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.services import accounts
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.web.downloads import file_name
from tests.clitools import PASSPHRASE, cli_json, openssl, openssl_all
from tests.conftest import FakeClock, RunCli
from tests.pkitools import Issued, ThreeLevels, three_levels
from tests.webtools import Client, Site, running_site

API = "/api/v1"
JSON = dict[str, Any]

SUBJECT = {
    "name": "Support portal",
    "key": "p256",
    "country": "US",
    "state": "California",
    "city": "Denver",
    "org": "Example Inc",
    "ou": "IT",
    "cn": "support.example.test",
    "sans": ["remote.example.test"],
}


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


@pytest.fixture
def admin(site: Site) -> Client:
    return site.api(Role.ADMIN)


@pytest.fixture
def auditor(site: Site) -> Client:
    return site.api(Role.AUDITOR)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, field: str | None = None) -> str:
    """The error's message, after checking its shape, status and field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert body.get("field") == field
    message: str = body["error"]
    assert message.strip()
    return message


def self_signed(client: Client, **fields: Any) -> JSON:
    made: JSON = ok(
        client.post(f"{API}/certificates/self-signed", json={**SUBJECT, **fields}),
        201,
    )
    return made


def import_levels(client: Client, levels: ThreeLevels) -> JSON:
    """Leaf and key as PEM, the intermediate as DER, the root as PEM: any mix."""
    files = [
        ("files", ("leaf.pem", levels.leaf.pem + levels.leaf.key_pem)),
        ("files", ("intermediate.cer", levels.intermediate.der)),
        ("files", ("root.crt", levels.root.pem)),
    ]
    result: JSON = ok(client.post(f"{API}/certificates/import", files=files))
    return result


def leaf_of(result: JSON) -> JSON:
    return next(i for i in result["items"] if i["role"] == "server")


def sign_request(pem: str, ca: Issued, now: dt.datetime) -> bytes:
    """What a CA sends back for a request: its key and names, the CA's signature."""
    csr = x509.load_pem_x509_csr(pem.encode())
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(names.value, critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# --- Status and certificates ---------------------------------------------------


def test_status_answers_admins_and_auditors(admin: Client, auditor: Client) -> None:
    for client in (admin, auditor):
        basics = ok(client.get(f"{API}/status"))
        assert basics["default_certificate"]["id"] == 1
        assert basics["served_names"]


def test_self_signed_is_created_checked_and_listed(
    admin: Client, auditor: Client
) -> None:
    made = self_signed(admin, state="CA", sans=["remote.example.test", "192.0.2.7"])

    assert made["name"] == "Support portal"
    assert made["sans"] == ["support.example.test", "remote.example.test", "192.0.2.7"]
    assert made["key"] == {"algorithm": "ECDSA", "size": 256, "label": "ECDSA P-256"}
    assert made["chain_status"] == "self-signed"
    assert made["has_key"] is True
    warned = " ".join(made["input_warnings"])
    assert "abbreviation" in warned
    assert "IP address" in warned

    listed = ok(auditor.get(f"{API}/certificates"))
    assert [c["id"] for c in listed] == [1, made["id"]]
    roots = ok(auditor.get(f"{API}/certificates", params={"role": "root"}))
    assert roots == []
    shown = ok(auditor.get(f"{API}/certificates/{made['id']}"))
    assert {k: v for k, v in made.items() if k != "input_warnings"} == shown


def test_self_signed_input_is_checked_like_the_cli(admin: Client) -> None:
    url = f"{API}/certificates/self-signed"
    message = refused(
        admin.post(url, json={**SUBJECT, "country": "XX"}), 422, "country"
    )
    assert "ISO 3166" in message
    refused(admin.post(url, json={**SUBJECT, "sans": ["bad..name"]}), 422, "san")
    refused(admin.post(url, json={**SUBJECT, "days": 0}), 422, "days")
    refused(admin.post(url, json={**SUBJECT, "key": "dsa"}), 422, "key")
    refused(admin.post(url, json={**SUBJECT, "name": "1234"}), 422, "name")
    refused(admin.post(url, json={**SUBJECT, "colour": "red"}), 422, "colour")
    missing = refused(admin.post(url, json={"cn": "a.example.test"}), 422, "name")
    assert "required" in missing
    refused(admin.post(url, json={**SUBJECT, "name": "a\x00b"}), 422, "name")
    # 40 characters, but 160 bytes of UTF-8: more than a certificate's CN holds.
    wide = refused(
        admin.post(url, json={**SUBJECT, "cn": "\U0001d413" * 40}), 422, "cn"
    )
    assert "bytes" in wide


def test_auditors_change_nothing(site: Site, admin: Client, auditor: Client) -> None:
    made = self_signed(admin)
    created_request = ok(admin.post(f"{API}/requests", json=SUBJECT), 201)
    attempts = [
        auditor.post(f"{API}/certificates/self-signed", json=SUBJECT),
        auditor.post(f"{API}/certificates/import", files=[("files", ("a.pem", b"x"))]),
        auditor.post(f"{API}/certificates/{made['id']}/default"),
        auditor.delete(f"{API}/certificates/{made['id']}"),
        auditor.post(f"{API}/requests", json=SUBJECT),
        auditor.delete(f"{API}/requests/{created_request['id']}"),
        auditor.get(f"{API}/users"),
        auditor.post(f"{API}/users", json={"username": "eve", "role": "admin"}),
        auditor.get(f"{API}/tokens"),
        auditor.post(f"{API}/tokens", json={"name": "eve", "role": "admin"}),
        auditor.delete(f"{API}/tokens/1"),
    ]
    for response in attempts:
        message = refused(response, 403)
        assert "auditor" in message

    assert len(ok(admin.get(f"{API}/certificates"))) == 2
    assert ok(admin.get(f"{API}/requests/{created_request['id']}"))


def test_certificate_json_is_the_clis(
    site: Site, admin: Client, clock: FakeClock, initialised: RunCli
) -> None:
    # The CLI reads the real clock; put the site's there too, so that days
    # left and warnings are computed at the same moment.
    clock.now = dt.datetime.now(dt.UTC)
    made = self_signed(admin)
    levels = three_levels("chain.example.test", now=clock.now)
    leaf = leaf_of(import_levels(admin, levels))

    for cert_id in (1, made["id"], leaf["id"]):
        api = ok(admin.get(f"{API}/certificates/{cert_id}"))
        assert api == cli_json(initialised, "cert", "show", str(cert_id))
    listed = ok(admin.get(f"{API}/certificates"))
    assert listed == cli_json(initialised, "cert", "list")
    which = ok(admin.get(f"{API}/which", params={"server_name": "chain.example.test"}))
    assert which == cli_json(initialised, "cert", "which", "chain.example.test")


def test_unknown_and_malformed_ids(admin: Client) -> None:
    message = refused(admin.get(f"{API}/certificates/999"), 404)
    assert "999" in message
    refused(admin.get(f"{API}/certificates/abc"), 422, "id")
    refused(admin.get(f"{API}/certificates/0"), 422, "id")
    refused(admin.get(f"{API}/certificates/{2**40}"), 422, "id")
    refused(admin.delete(f"{API}/requests/12345"), 404)


def test_default_and_delete(admin: Client, auditor: Client) -> None:
    made = self_signed(admin)
    levels = three_levels("chain.example.test")
    result = import_levels(admin, levels)
    root = next(i for i in result["items"] if i["role"] == "root")

    changed = ok(admin.post(f"{API}/certificates/{made['id']}/default"))
    assert changed["is_default"] is True
    assert changed["change_warnings"] == []
    status = ok(auditor.get(f"{API}/status"))
    assert status["default_certificate"]["id"] == made["id"]

    no_key = refused(admin.post(f"{API}/certificates/{root['id']}/default"), 409)
    assert "private key" in no_key
    in_use = refused(admin.delete(f"{API}/certificates/{made['id']}"), 409)
    assert "default" in in_use
    refused(admin.delete(f"{API}/certificates/{root['id']}"), 409)

    leaf = leaf_of(result)
    deleted = ok(admin.delete(f"{API}/certificates/{leaf['id']}"))
    assert deleted["id"] == leaf["id"]
    assert deleted["removed_key"] is True
    assert len(deleted["removed_issuers"]) == 2
    refused(admin.get(f"{API}/certificates/{leaf['id']}"), 404)


# --- Import --------------------------------------------------------------------


def test_import_of_a_three_level_chain_in_multipart(
    admin: Client, auditor: Client
) -> None:
    levels = three_levels("www.example.test")
    result = import_levels(admin, levels)

    assert {i["outcome"] for i in result["items"]} == {"created"}
    assert sorted(i["role"] for i in result["items"]) == [
        "intermediate",
        "root",
        "server",
    ]
    leaf = ok(auditor.get(f"{API}/certificates/{leaf_of(result)['id']}"))
    assert leaf["has_key"] is True
    assert leaf["chain_status"] == "complete"
    assert [c["role"] for c in leaf["chain"]] == ["server", "intermediate", "root"]
    assert leaf["fingerprint_sha256"] == levels.leaf.fingerprint

    again = import_levels(admin, levels)
    assert {i["outcome"] for i in again["items"]} == {"already-present"}
    which = ok(auditor.get(f"{API}/which", params={"server_name": "WWW.example.test"}))
    assert which["reason"] == "exact"
    assert which["lookup_name"] == "www.example.test"
    assert which["certificate"]["id"] == leaf["id"]


def test_import_opens_pkcs12_with_the_passphrase(admin: Client) -> None:
    levels = three_levels("p12.example.test")
    bundle = pkcs12.serialize_key_and_certificates(
        b"From a p12",
        levels.leaf.key,
        levels.leaf.cert,
        [levels.intermediate.cert, levels.root.cert],
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    url = f"{API}/certificates/import"
    files = [("files", ("bundle.pfx", bundle))]

    wrong = refused(admin.post(url, files=files), 422, "files")
    assert "bundle.pfx" in wrong
    result = ok(admin.post(url, files=files, data={"passphrase": PASSPHRASE}))
    assert leaf_of(result)["name"] == "From a p12"


def test_import_refusals_name_the_file(site: Site, admin: Client) -> None:
    url = f"{API}/certificates/import"
    levels = three_levels()
    files = [
        ("files", ("good.pem", levels.leaf.pem)),
        ("files", ("notes.txt", b"not a certificate")),
    ]
    message = refused(admin.post(url, files=files), 422, "files")
    assert "notes.txt" in message
    assert ok(admin.get(f"{API}/certificates"))[1:] == []

    refused(admin.post(url, data={"passphrase": "x"}), 422, "files")
    refused(admin.post(url, json={"files": []}), 422, "files")
    no_boundary = {"Content-Type": "multipart/form-data"}
    broken = refused(admin.post(url, content=b"x", headers=no_boundary), 400)
    assert "boundary" in broken


def test_uploads_over_the_limit_are_refused(ctx: Context, clock: FakeClock) -> None:
    with running_site(ctx, clock, max_upload_bytes=4096) as small:
        admin = small.api(Role.ADMIN)
        files = [("files", ("big.pem", b"A" * 10_000))]
        message = refused(admin.post(f"{API}/certificates/import", files=files), 413)
        assert "MiB limit" in message


def test_a_signed_request_fulfils_it(admin: Client, clock: FakeClock) -> None:
    levels = three_levels()
    created = ok(admin.post(f"{API}/requests", json=SUBJECT), 201)
    signed = sign_request(created["pem"], levels.intermediate, clock.now)
    files = [
        ("files", ("signed.cer", signed)),
        ("files", ("chain.pem", levels.intermediate.pem + levels.root.pem)),
    ]

    result = ok(admin.post(f"{API}/certificates/import", files=files))

    assert result["fulfilled_requests"] == [created["id"]]
    request = ok(admin.get(f"{API}/requests/{created['id']}"))
    assert request["status"] == "fulfilled"
    leaf = ok(admin.get(f"{API}/certificates/{request['certificate_id']}"))
    assert leaf["has_key"] is True
    assert leaf["name"] == SUBJECT["name"]


# --- Export --------------------------------------------------------------------


def export(client: Client, cert_id: int, **options: Any) -> httpx.Response:
    return client.post(f"{API}/certificates/{cert_id}/export", json=options)


@pytest.fixture
def chained(admin: Client) -> tuple[ThreeLevels, int]:
    levels = three_levels("export.example.test")
    return levels, leaf_of(import_levels(admin, levels))["id"]


def test_exports_are_read_back_by_openssl(
    admin: Client, auditor: Client, chained: tuple[ThreeLevels, int], tmp_path: Path
) -> None:
    levels, cert_id = chained
    pass_file = tmp_path / "pass.txt"
    pass_file.write_text(PASSPHRASE)

    pem = export(auditor, cert_id, format="pem", chain=True)
    assert pem.status_code == 200, pem.text
    assert pem.headers["content-type"] == "application/x-pem-file"
    assert pem.headers["content-disposition"].startswith("attachment; filename=")
    assert pem.headers["cache-control"] == "no-store"
    subjects = openssl(
        "crl2pkcs7", "-nocrl", "-certfile", "/dev/stdin", stdin=pem.content
    )
    printed = openssl("pkcs7", "-print_certs", "-noout", stdin=subjects).decode()
    assert printed.count("subject=") == 3

    der = export(auditor, cert_id, format="der")
    assert der.headers["content-type"] == "application/pkix-cert"
    assert der.headers["content-disposition"].endswith('.cer"')
    fingerprint = openssl(
        "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256", stdin=der.content
    ).decode()
    assert fingerprint.split("=", 1)[1].strip().replace(":", "").lower() == (
        levels.leaf.fingerprint
    )

    p7b = export(auditor, cert_id, format="p7b", chain=True)
    assert p7b.headers["content-type"] == "application/pkcs7-mime"
    printed = openssl(
        "pkcs7", "-inform", "DER", "-print_certs", "-noout", stdin=p7b.content
    ).decode()
    assert "Test Intermediate CA" in printed

    p12 = export(
        admin,
        cert_id,
        format="p12",
        chain=True,
        private_key=True,
        passphrase=PASSPHRASE,
    )
    assert p12.status_code == 200, p12.text
    assert p12.headers["content-type"] == "application/x-pkcs12"
    (tmp_path / "out.p12").write_bytes(p12.content)
    info = openssl_all(
        "pkcs12", "-in", tmp_path / "out.p12", "-passin", f"file:{pass_file}",
        "-nodes", "-info",
    )  # fmt: skip
    assert "PRIVATE KEY" in info
    assert "AES-256-CBC" in info

    key_pem = export(
        admin, cert_id, format="pem", private_key=True, passphrase=PASSPHRASE
    )
    assert b"ENCRYPTED PRIVATE KEY" in key_pem.content
    (tmp_path / "key.pem").write_bytes(key_pem.content)
    public = openssl(
        "pkey", "-in", tmp_path / "key.pem", "-passin", f"file:{pass_file}", "-pubout"
    )
    expected = levels.leaf.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == expected


def test_private_keys_need_an_admin_and_a_passphrase(
    admin: Client, auditor: Client, chained: tuple[ThreeLevels, int]
) -> None:
    _, cert_id = chained
    message = refused(
        export(auditor, cert_id, format="p12", private_key=True, passphrase=PASSPHRASE),
        403,
    )
    assert "admin" in message
    refused(export(admin, cert_id, format="p12", private_key=True), 422, "passphrase")
    short = refused(
        export(admin, cert_id, format="p12", private_key=True, passphrase="short"),
        422,
        "passphrase",
    )
    assert "at least" in short
    refused(export(admin, cert_id, format="der", chain=True), 422, "format")
    refused(export(admin, cert_id, format="zip"), 422, "format")
    refused(export(admin, 999, format="pem"), 404)

    events = ok(admin.get(f"{API}/events", params={"action": "certificate.exported"}))
    assert events == []
    ok_export = export(
        admin, cert_id, format="p12", private_key=True, passphrase=PASSPHRASE
    )
    assert ok_export.status_code == 200
    events = ok(admin.get(f"{API}/events", params={"action": "certificate.exported"}))
    assert [e["details"]["private_key"] for e in events] == [True]
    assert events[0]["actor"].startswith("token:admin")


def test_an_export_without_the_key_is_refused_when_none_is_held(
    admin: Client, chained: tuple[ThreeLevels, int]
) -> None:
    certificates = ok(admin.get(f"{API}/certificates", params={"role": "root"}))
    root_id = certificates[0]["id"]
    refused(
        export(admin, root_id, format="p12", private_key=True, passphrase=PASSPHRASE),
        422,
        "key",
    )


# --- Requests ------------------------------------------------------------------


def test_requests_from_create_to_delete(
    admin: Client, auditor: Client, tmp_path: Path
) -> None:
    created = ok(admin.post(f"{API}/requests", json={**SUBJECT, "key": "rsa2048"}), 201)
    assert created["status"] == "pending"
    assert created["key"] == "RSA 2048"
    assert created["pem"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert created["input_warnings"] == []

    listed = ok(auditor.get(f"{API}/requests"))
    assert [r["id"] for r in listed] == [created["id"]]
    assert "pem" not in listed[0]
    shown = ok(auditor.get(f"{API}/requests/{created['id']}"))
    assert shown == {k: v for k, v in created.items() if k != "input_warnings"}

    csr = auditor.get(f"{API}/requests/{created['id']}/csr")
    assert csr.status_code == 200
    assert csr.headers["content-type"] == "application/pkcs10"
    assert (
        csr.headers["content-disposition"]
        == 'attachment; filename="Support-portal.csr"'
    )
    (tmp_path / "req.csr").write_bytes(csr.content)
    verified = openssl_all("req", "-in", tmp_path / "req.csr", "-verify", "-noout")
    assert "verify OK" in verified.replace("Certificate request self-signature ", "")

    deleted = ok(admin.delete(f"{API}/requests/{created['id']}"))
    assert deleted == {
        "id": created["id"],
        "name": "Support portal",
        "status": "pending",
    }
    refused(auditor.get(f"{API}/requests/{created['id']}"), 404)
    refused(auditor.get(f"{API}/requests/{created['id']}/csr"), 404)


def test_a_request_like_a_certificate_rekeys_it(admin: Client) -> None:
    made = self_signed(admin)
    body = {"name": "Support 2027", "key": "p384", "like_certificate": made["id"]}
    created = ok(admin.post(f"{API}/requests", json=body), 201)
    assert created["sans"] == made["sans"]
    assert created["subject"] == made["subject"]
    assert created["key"].startswith("ECDSA 384")

    changed = {**body, "org": "Other Org", "sans": ["new.example.test"]}
    other = ok(admin.post(f"{API}/requests", json=changed), 201)
    assert "O=Other Org" in other["subject"]
    assert other["sans"] == ["support.example.test", "new.example.test"]
    refused(admin.post(f"{API}/requests", json={**body, "like_certificate": 999}), 404)


def test_request_input_is_checked(admin: Client) -> None:
    url = f"{API}/requests"
    refused(admin.post(url, json={"name": "No subject"}), 422, "cn")
    refused(admin.post(url, json={**SUBJECT, "cn": "x" * 65}), 422, "cn")
    refused(admin.post(url, json={**SUBJECT, "sans": ["*.com"]}), 422, "san")
    refused(
        admin.post(
            url, content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        422,
    )
    refused(admin.post(url, json=["a", "list"]), 422)


# --- Which ---------------------------------------------------------------------


def test_which_explains_the_choice(admin: Client, auditor: Client) -> None:
    levels = three_levels("*.wild.example.test")
    import_levels(admin, levels)

    exact = ok(auditor.get(f"{API}/which", params={"server_name": "localhost"}))
    assert exact["reason"] == "exact"
    wildcard = ok(
        auditor.get(f"{API}/which", params={"server_name": "a.wild.example.test"})
    )
    assert wildcard["reason"] == "wildcard"
    fallback = ok(auditor.get(f"{API}/which", params={"server_name": "elsewhere.test"}))
    assert fallback["reason"] == "default"
    assert fallback["certificate"]["id"] == 1
    no_sni = ok(auditor.get(f"{API}/which"))
    assert no_sni["server_name"] is None
    assert no_sni["reason"] == "default"
    refused(
        auditor.get(f"{API}/which", params={"server_name": "a" * 2000}),
        422,
        "server_name",
    )


# --- Users ---------------------------------------------------------------------


def test_users_are_managed_by_admins(site: Site, admin: Client) -> None:
    added = ok(
        admin.post(
            f"{API}/users",
            json={
                "username": "Carol",
                "role": "auditor",
                "email": "carol@example.test",
            },
        ),
        201,
    )
    password = added.pop("one_time_password")
    assert added["username"] == "carol"
    assert added["must_change_password"] is True
    assert accounts.log_in(site.ctx, "carol", password).username == "carol"

    listed = ok(admin.get(f"{API}/users"))
    assert [u["username"] for u in listed] == ["carol"]
    assert "one_time_password" not in listed[0]
    assert ok(admin.get(f"{API}/users/CAROL"))["email"] == "carol@example.test"

    disabled = ok(admin.post(f"{API}/users/carol/disable"))
    assert disabled["disabled"] is True
    enabled = ok(admin.post(f"{API}/users/carol/enable"))
    assert enabled["disabled"] is False

    reset = ok(admin.post(f"{API}/users/carol/reset-password"))
    new_password = reset["one_time_password"]
    assert new_password != password
    assert accounts.log_in(site.ctx, "carol", new_password).must_change_password

    cleared = ok(admin.put(f"{API}/users/carol/email", json={"email": None}))
    assert cleared["email"] is None
    changed = ok(admin.put(f"{API}/users/carol/email", json={"email": "c@x.test"}))
    assert changed["email"] == "c@x.test"

    actions = [e["action"] for e in ok(admin.get(f"{API}/events?action=user."))]
    assert "user.created" in actions
    assert "user.password_reset" in actions


def test_user_refusals(site: Site, admin: Client) -> None:
    site.user(Role.ADMIN, "root-admin")
    refused(
        admin.post(f"{API}/users", json={"username": "root-admin", "role": "admin"}),
        409,
    )
    refused(
        admin.post(f"{API}/users", json={"username": "bad name", "role": "admin"}),
        422,
        "username",
    )
    refused(
        admin.post(f"{API}/users", json={"username": "x", "role": "owner"}), 422, "role"
    )
    refused(
        admin.put(f"{API}/users/root-admin/email", json={"email": "not-an-address"}),
        422,
        "email",
    )
    last = refused(admin.post(f"{API}/users/root-admin/disable"), 409)
    assert "only enabled administrator" in last
    refused(admin.post(f"{API}/users/nobody/enable"), 404)
    refused(admin.get(f"{API}/users/bad%20name"), 422, "username")


# --- Tokens --------------------------------------------------------------------


def test_tokens_are_made_used_and_revoked(site: Site, admin: Client) -> None:
    made = ok(
        admin.post(f"{API}/tokens", json={"name": "deploy", "role": "auditor"}), 201
    )
    secret = made.pop("token")
    assert made["role"] == "auditor"
    assert made["created_by"].startswith("token:admin")

    script = site.bearer(secret)
    assert ok(script.get(f"{API}/status"))
    listed = ok(admin.get(f"{API}/tokens"))
    assert "deploy" in [t["name"] for t in listed]
    assert secret not in json.dumps(listed)
    used = next(t for t in listed if t["name"] == "deploy")
    assert used["last_used_at"] is not None

    revoked = ok(admin.delete(f"{API}/tokens/{made['id']}"))
    assert revoked["revoked_at"] is not None
    message = refused(script.get(f"{API}/status"), 401)
    assert "revoked" in message
    assert ok(admin.delete(f"{API}/tokens/{made['id']}"))["revoked_at"]
    refused(admin.delete(f"{API}/tokens/999"), 404)
    refused(
        admin.post(f"{API}/tokens", json={"name": "", "role": "admin"}), 422, "name"
    )
    refused(
        admin.post(f"{API}/tokens", json={"name": "2024", "role": "admin"}), 422, "name"
    )


def test_a_token_name_in_use_is_refused(admin: Client) -> None:
    ok(admin.post(f"{API}/tokens", json={"name": "ci", "role": "admin"}), 201)
    refused(admin.post(f"{API}/tokens", json={"name": "ci", "role": "admin"}), 409)


# --- Events --------------------------------------------------------------------


def test_events_are_filtered_and_paged(
    admin: Client, auditor: Client, clock: FakeClock
) -> None:
    start = clock.now
    for n in range(5):
        clock.advance(minutes=1)
        self_signed(admin, name=f"Cert {n}", cn=f"c{n}.example.test")
    ok(admin.post(f"{API}/requests", json=SUBJECT), 201)

    url = f"{API}/events"
    query = {"action": "certificate.created", "actor": "token:"}
    created = ok(auditor.get(url, params=query))
    assert [e["object_name"] for e in created] == [
        f"Cert {n}" for n in range(4, -1, -1)
    ]
    assert ok(auditor.get(url, params={"action": "request."}))[0]["object_name"] == (
        "Support portal"
    )
    assert len(ok(auditor.get(url, params={"object_name": "cert 3"}))) == 1
    by_actor = ok(auditor.get(url, params={"actor": "token:admin"}))
    assert len(by_actor) == 6

    first = ok(auditor.get(url, params={"limit": 2}))
    second = ok(auditor.get(url, params={"limit": 2, "before_id": first[-1]["id"]}))
    assert [e["id"] for e in second] == [first[-1]["id"] - 1, first[-1]["id"] - 2]
    back = ok(auditor.get(url, params={"limit": 2, "after_id": second[0]["id"]}))
    assert back == first

    window = {
        "since": (start + dt.timedelta(minutes=2)).isoformat(),
        "until": (start + dt.timedelta(minutes=4)).isoformat(),
        "action": "certificate.created",
    }
    assert [e["object_name"] for e in ok(auditor.get(url, params=window))] == [
        "Cert 2",
        "Cert 1",
    ]
    refused(auditor.get(url, params={"since": "2026-01-01T00:00:00"}), 422, "since")
    refused(auditor.get(url, params={"limit": 0}), 422, "limit")
    refused(
        auditor.get(url, params={"until": "0001-01-01T00:00:00+05:00"}), 422, "until"
    )


# --- Authentication and errors -------------------------------------------------


def test_no_token_or_a_wrong_one_is_401(site: Site) -> None:
    stranger = site.anonymous()
    response = stranger.get(f"{API}/certificates")
    message = refused(response, 401)
    assert "Bearer" in message
    assert response.headers["www-authenticate"] == "Bearer"

    for header in ("Bearer cdk_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer "):
        response = stranger.get(f"{API}/status", headers={"Authorization": header})
        refused(response, 401)

    browser = site.browser(Role.ADMIN)
    # A session cookie never opens the API: it has no CSRF defence.
    refused(browser.client.get(f"{API}/status"), 401)


def test_unknown_paths_and_methods_answer_json(admin: Client) -> None:
    refused(admin.get(f"{API}/nothing-here"), 404)
    message = refused(admin.request("PATCH", f"{API}/certificates/1"), 405)
    assert "PATCH" in message


def test_openapi_and_docs_are_public_and_agree(site: Site) -> None:
    stranger = site.anonymous()
    document = ok(stranger.get(f"{API}/openapi.json"))
    page = stranger.get(f"{API}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "<script" not in text
    assert "http://" not in text and "https://" not in text.replace(
        'href="https://testserver', ""
    )
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f"{method.upper()} {path}" in text
            assert operation["summary"] in html.unescape(text)
            assert "401" in operation["responses"], f"{method} {path}"
            assert operation["security"] == [{"token": []}]
    assert "like_certificate" in text
    assert 'id="schema-CertificateOut"' in text
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


# --- Secrets -------------------------------------------------------------------


def test_no_secret_in_any_answer_or_log(
    site: Site,
    admin: Client,
    auditor: Client,
    chained: tuple[ThreeLevels, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    levels, cert_id = chained
    key_lines = [
        line
        for line in levels.leaf.key_pem.decode().splitlines()
        if line and "-----" not in line
    ]

    export(admin, cert_id, format="p12", private_key=True, passphrase=PASSPHRASE)
    export(admin, cert_id, format="pem", private_key=True, passphrase=PASSPHRASE)
    export(auditor, cert_id, format="p12", private_key=True, passphrase=PASSPHRASE)
    export(admin, cert_id, format="p12", private_key=True, passphrase="short")
    admin.post(
        f"{API}/certificates/import",
        files=[("files", ("key.pem", levels.leaf.key_pem))],
        data={"passphrase": PASSPHRASE},
    )
    made_token = ok(
        admin.post(f"{API}/tokens", json={"name": "x", "role": "admin"}), 201
    )
    user = ok(
        admin.post(f"{API}/users", json={"username": "dan", "role": "admin"}), 201
    )
    for path in ("/certificates", "/events?limit=1000", "/tokens", "/users", "/status"):
        ok(admin.get(API + path))
    site.anonymous().get(f"{API}/status", headers={"Authorization": "Bearer cdk_guess"})

    forbidden = [*site.secrets, PASSPHRASE, "short", "cdk_guess", *key_lines]
    once = {made_token["token"], user["one_time_password"]}
    for response in site.seen:
        if response.headers.get("content-type", "").startswith("application/json"):
            text = response.text
            for secret in forbidden:
                assert secret not in text, response.request.url
            # A new secret is answered by its own creation only.
            if response.request.method == "GET":
                assert not any(s in text for s in once)
            assert "PRIVATE KEY" not in text
            assert "Traceback" not in text
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in [*forbidden, *once]:
        assert secret not in logged


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Support portal", "Support-portal.csr"),
        ('evil"; filename="x.exe', "evil-filename-x.exe.csr"),
        ("../../etc/passwd", "etc-passwd.csr"),
        ("Ärger über Zertifikate", "rger-ber-Zertifikate.csr"),
        ("***", "certdesk-7.csr"),
    ],
)
def test_download_file_names_cannot_break_the_header(name: str, expected: str) -> None:
    assert file_name(name, 7, ".csr") == expected

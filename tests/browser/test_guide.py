"""The guide's certificate procedures, walked in Chromium against `certdesk serve`.

After each change the test looks at what a TLS client is actually served,
with a real handshake, and compares it with the fingerprint the certificate's
page shows.
"""

import datetime as dt
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from playwright.sync_api import Page, expect

from certdesk.services import accounts, certificates
from certdesk.services.accounts import Role
from tests.browser.conftest import (
    ADMIN_PASSWORD,
    Appliance,
    Visitor,
    normalise,
    sign_in,
    unique,
)
from tests.clitools import openssl, openssl_all, openssl_fingerprint
from tests.pkitools import Issued, make_ca

FACTORY = "Factory default (self-signed)"
PASSPHRASE = "export passphrase 1"


def test_first_sign_in_with_a_one_time_password_asks_for_a_new_one(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("newcomer")
    with appliance.services() as ctx:
        _, one_time = accounts.add_user(ctx, name, role=Role.AUDITOR)
    assert one_time is not None
    page = visit.page()

    sign_in(page, name, one_time)
    expect(page).to_have_url(re.compile(r"/appliance/password$"))
    expect(page.get_by_text("one-time password")).to_be_visible()
    page.goto("/appliance/certificates")
    expect(page).to_have_url(re.compile(r"/appliance/password$"))

    page.get_by_label("Current password").fill(one_time)
    page.locator("#new").fill("my own password, at last")
    page.locator("#repeat").fill("my own password, at last")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/appliance/status"))
    expect(page.locator(".notice")).to_contain_text("password has been changed")
    page.goto("/appliance/certificates")
    expect(page.get_by_role("heading", name="Certificates", exact=True)).to_be_visible()


def test_self_signed_certificate_from_create_to_default_export_and_delete(
    visit: Visitor, appliance: Appliance, tmp_path: Path
) -> None:
    name = unique("self")
    host = f"{name}.example.test"
    other = f"other.{name}.example.test"
    page = visit.signed_in()

    # Guide: Security > Certificates, Other Certificates, Create.
    page.goto("/appliance/certificates")
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Certificate friendly name").fill(name)
    page.get_by_label("Key", exact=True).select_option("p256")
    page.locator("#country").fill("XX")
    page.locator("#state").fill("BY")
    page.locator("#org").fill("certdesk tests")
    page.locator("#cn").fill(host)
    page.locator("#san-1").fill(host)
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator("#san-4").fill(other)
    with page.expect_response(re.compile(r"/create$")) as answer:
        page.get_by_role("button", name="Create", exact=True).click()

    # The CLI's own check, next to the field at fault, with the input kept.
    assert answer.value.status == 422
    country = page.locator("#country")
    expect(country).to_have_attribute("aria-invalid", "true")
    expect(country).to_have_attribute("aria-describedby", "country-error")
    expect(page.locator("#country-error")).to_contain_text("ISO 3166")
    expect(page.locator("#cn")).to_have_value(host)
    expect(page.locator("#san-2")).to_have_value(other)

    country.fill("DE")
    page.get_by_label("Create self-signed certificate").check()
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Created the self-signed")
    expect(page.locator(".warnings").first).to_contain_text(
        "looks like an abbreviation"
    )
    expect(page.locator("#warnings")).to_contain_text("self-signed")
    fingerprint = page.locator("#sha256").inner_text()
    expect(page.locator("main")).to_contain_text(other)
    appliance.wait_until_served(host, fingerprint)
    appliance.wait_until_served(other, fingerprint)

    # Guide: SSL Certificate Auto-Selection, the Default column.
    page.goto("/appliance/certificates")
    expect(page.locator(f"#certificate-{_id(page, name)} .warnings")).to_contain_text(
        "self-signed"
    )
    page.get_by_label(f"Make {name} the default").check()
    page.get_by_role("button", name="Set default").click()
    expect(page.locator(".notice")).to_contain_text(f"“{name}” is now the default")
    appliance.wait_until_served(None, fingerprint)
    appliance.wait_until_served("nothing-matches.example.test", fingerprint)
    page.get_by_role("button", name="Set default").click()
    expect(page.locator(".notice")).to_contain_text("already the default")

    # Guide: export a copy, Select Action > Export, without the private key.
    page.get_by_label(f"Select {name}", exact=True).check()
    page.get_by_label("Select Action").select_option("export")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/export$"))
    page.get_by_label("PEM (.pem)").check()
    download = _export(page)
    assert download.name == f"{name}.pem"
    assert openssl_fingerprint(download) == normalise(fingerprint)
    assert b"PRIVATE KEY" not in download.read_bytes()

    page.get_by_label("DER (.cer)").check()
    page.get_by_label("The certificate chain").uncheck()
    der = _export(page)
    assert der.name == f"{name}.cer"
    assert openssl_fingerprint(der, der=True) == normalise(fingerprint)

    # For a failover node: PKCS#12 with the key, a passphrase and the
    # admin's own password; a wrong password exports nothing.
    page.get_by_label("PKCS#12 (.p12)").check()
    page.get_by_label("The private key").check()
    page.get_by_label("Passphrase for the file").fill(PASSPHRASE)
    page.get_by_label("Passphrase again").fill(PASSPHRASE)
    page.get_by_label("Your own password").fill("not my password at all")
    with page.expect_response(re.compile(r"/export$")) as answer:
        page.get_by_role("button", name="Export", exact=True).click()
    assert answer.value.status == 422
    expect(page.locator("#password-error")).to_contain_text("not correct")
    page.get_by_label("Passphrase for the file").fill(PASSPHRASE)
    page.get_by_label("Passphrase again").fill(PASSPHRASE)
    page.get_by_label("Your own password").fill(ADMIN_PASSWORD)
    p12 = _export(page)
    assert p12.name == f"{name}.p12"
    info = openssl_all(
        "pkcs12", "-info", "-in", p12, "-passin", f"pass:{PASSPHRASE}", "-noenc"
    )
    assert "PBES2" in info and "AES-256-CBC" in info
    assert "BEGIN PRIVATE KEY" in info
    leaf = x509.load_pem_x509_certificate(info.encode())
    assert leaf.fingerprint(hashes.SHA256()).hex() == normalise(fingerprint)

    # Guide: import it on the backup node, with the passphrase (here the
    # same appliance, which already holds it).
    page.goto("/appliance/certificates/import")
    page.get_by_label("Files").set_input_files(p12)
    page.get_by_label("Passphrase").fill("not the passphrase")
    with page.expect_response(re.compile(r"/import$")) as answer:
        page.get_by_role("button", name="Upload").click()
    assert answer.value.status == 422
    expect(page.get_by_label("Files")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#files-error")).to_contain_text(p12.name)
    expect(page.locator("#files-error")).to_contain_text("passphrase")
    page.get_by_label("Files").set_input_files(p12)
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Upload").click()
    result = page.locator("section[aria-labelledby=import-result]")
    expect(result).to_contain_text("already on the appliance")

    # Delete: refused while it is the default, then done once it is not.
    page.goto(f"/appliance/certificates/{_id_of(appliance, name)}")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("main")).to_contain_text("it is the default certificate")
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    page.goto("/appliance/certificates")
    page.get_by_label(f"Make {FACTORY} the default").check()
    page.get_by_role("button", name="Set default").click()
    factory = page.locator(f"#certificate-{_id(page, FACTORY)}")
    expect(factory).to_contain_text("default")

    page.get_by_label(f"Select {name}", exact=True).check()
    page.get_by_label("Select Action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading")).to_contain_text("Delete this certificate?")
    page.get_by_role("button", name="Delete 1 certificate").click()
    expect(page.locator(".notice")).to_contain_text(f"Deleted “{name}”")
    expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    factory_fingerprint = appliance.served(None).fingerprint(hashes.SHA256()).hex()
    appliance.wait_until_served(host, factory_fingerprint)


def test_request_signed_by_a_ca_then_its_chain_imported(
    visit: Visitor, appliance: Appliance, tmp_path: Path
) -> None:
    name = unique("signed")
    host = f"{name}.example.test"
    page = visit.signed_in()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # Guide: Create a Certificate Signing Request.
    page.goto("/appliance/certificates/create")
    page.get_by_label("Certificate friendly name").fill(name)
    page.locator("#country").fill("US")
    page.locator("#state").fill("Oregon")
    page.locator("#org").fill("certdesk tests")
    page.locator("#cn").fill(host)
    page.get_by_label("Create certificate request").check()
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/appliance/requests/\d+$"))
    expect(page.locator("#request-status")).to_have_text("pending")

    # Copy the Request Data, as a person would to paste it into the CA's form.
    data = page.get_by_label("Request data (PEM)")
    pem = data.input_value()
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    copy = page.locator("button[data-copy=request-data]")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == pem
    with page.expect_download() as csr_download:
        page.get_by_role("link", name="Download .csr").click()
    csr_file = tmp_path / csr_download.value.suggested_filename
    csr_download.value.save_as(csr_file)
    assert csr_file.suffix == ".csr"
    assert csr_file.read_text() == pem
    sent = page.request.get(page.url + "/csr")
    assert sent.headers["content-type"] == "application/pkcs10"
    assert sent.headers["content-disposition"] == f'attachment; filename="{name}.csr"'
    assert sent.headers["cache-control"] == "no-store"
    assert "verify OK" in openssl_all("req", "-in", csr_file, "-noout", "-verify")

    # The CA signs it; the administrator uploads the leaf and intermediate.
    root = make_ca(f"{name} Root CA")
    intermediate = make_ca(f"{name} Intermediate CA", parent=root)
    leaf = _sign(x509.load_pem_x509_csr(pem.encode()), intermediate)
    files = {
        "leaf.crt": leaf.public_bytes(Encoding.PEM),
        "intermediate.cer": intermediate.der,
        "root.pem": root.pem,
    }
    for filename, content in files.items():
        (tmp_path / filename).write_bytes(content)

    page.goto("/appliance/certificates")
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Files").set_input_files(
        [tmp_path / "leaf.crt", tmp_path / "intermediate.cer"]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/appliance/certificates$"))
    result = page.locator("section[aria-labelledby=import-result]")
    expect(result).to_contain_text("leaf.crt")
    expect(result).to_contain_text("intermediate.cer")
    expect(page.locator(".notice")).to_contain_text(
        "1 certificate request(s) fulfilled"
    )
    row = page.locator(f"#certificate-{_id(page, name)}")
    warning = row.locator("[data-code=chain-incomplete]")
    expect(warning).to_contain_text("chain incomplete")

    # The warning beneath the name: the root is missing. Import it.
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Files").set_input_files(tmp_path / "root.pem")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".notice")).to_contain_text("stored chain(s) completed")
    expect(warning).to_have_count(0)

    page.locator(f"#certificate-{_id(page, name)}").get_by_role(
        "link", name=name
    ).click()
    expect(page.locator("#chain-status")).to_contain_text("Complete")
    chain = page.locator("table.stack tbody tr")
    expect(chain).to_have_count(3)
    expect(chain.nth(0)).to_contain_text("server")
    expect(chain.nth(1)).to_contain_text("intermediate")
    expect(chain.nth(2)).to_contain_text("root")
    expect(page.locator("dl.facts")).to_contain_text(f"{name} Intermediate CA")
    fingerprint = page.locator("#sha256").inner_text()
    assert normalise(fingerprint) == leaf.fingerprint(hashes.SHA256()).hex()
    appliance.wait_until_served(host, fingerprint)

    # The request is fulfilled, and says by which certificate.
    page.locator("dl.facts").get_by_role("link", name=name).click()
    expect(page.locator("#request-status")).to_contain_text("fulfilled by")

    # Export the whole chain as PKCS#7, as the guide's support step wants.
    page.goto("/appliance/certificates")
    page.get_by_label(f"Select {name}", exact=True).check()
    page.get_by_label("Select Action").select_option("export")
    page.get_by_role("button", name="Apply").click()
    page.get_by_label("PKCS#7 (.p7b)").check()
    p7b = _export(page)
    printed = openssl("pkcs7", "-in", p7b, "-inform", "DER", "-print_certs").decode()
    assert printed.count("BEGIN CERTIFICATE") == 3


def test_several_selected_for_export_are_sent_back_with_a_reason(
    visit: Visitor,
) -> None:
    page = visit.signed_in()
    page.goto("/appliance/certificates")
    apply = page.get_by_role("button", name="Apply")
    apply.click()
    expect(page.locator(".error")).to_contain_text("Select a certificate")
    # The check boxes of the Select Action form itself, whatever else the
    # page holds; the factory default and the module's own certificates give
    # at least two.
    boxes = page.locator("form", has=apply).locator("input[name=selected]")
    expect(boxes.nth(1)).to_be_attached()
    for box in boxes.all()[:2]:
        box.check()
    apply.click()
    expect(page.locator(".error")).to_contain_text("one certificate at a time")


def _export(page: Page) -> Path:
    """Click Export and keep the download under its suggested name."""
    with page.expect_download() as started:
        page.get_by_role("button", name="Export", exact=True).click()
    download = started.value
    target = Path(download.path()).with_name(download.suggested_filename)
    download.save_as(target)
    return target


def _id(page: Page, name: str) -> str:
    """The id of the certificate named `name`, from its link on the list."""
    link = page.get_by_role("link", name=name, exact=True).first
    href = link.get_attribute("href") or ""
    return href.rsplit("/", 1)[-1]


def _id_of(appliance: Appliance, name: str) -> int:
    with appliance.services() as ctx:
        return certificates.show(ctx, name).id


def _sign(csr: x509.CertificateSigningRequest, issuer: Issued) -> x509.Certificate:
    """What the CA does with the request: a server certificate for its key."""
    now = dt.datetime.now(dt.UTC)
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(sans.value, critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )

"""A fake CA at the `AcmeSession` seam, for errors Pebble cannot produce.

`install(monkeypatch, ca)` puts `FakeSession` where `services/acme/accounts`
makes its protocol sessions, so everything above the wire is the real code:
accounts, the order steps in `ordering`, challenge rows, the store, the
scheduler. The fake issues real certificates for the request's key, signed by
a test CA (tests/pkitools.py) on the test's clock, so what is stored and
served is real. A test scripts failures with `ca.fail(...)` (a `CaError` at
a step, once or for a while) or `ca.down` (every call fails as unreachable).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from certdesk.services.acme import accounts
from certdesk.services.acme.client import CaError, Polling, RenewalWindow
from certdesk.services.acme.directories import Directory
from tests.pkitools import Issued, make_ca

URL = "https://fake-ca.test/dir"


@dataclass
class Failure:
    step: str
    error: CaError
    times: int


@dataclass
class FakeCa:
    """What the fake CA does, and a count of what it was asked."""

    clock: Callable[[], dt.datetime]
    lifetime: dt.timedelta = dt.timedelta(days=90)
    root: Issued = field(default_factory=lambda: make_ca("fake ACME root"))
    down: bool = False
    failures: list[Failure] = field(default_factory=list)
    orders: int = 0
    issued: int = 0
    # Called with (step, first name of the order) for failures decided at
    # the moment (time-travel tests); None lets the step succeed.
    decide: Callable[[str, str], CaError | None] | None = None
    current: str = ""
    # Renewal information (ARI): a window for a certificate, or None for a
    # directory that offers none. Counted in `windows_asked`.
    window: Callable[[x509.Certificate], RenewalWindow] | None = None
    windows_asked: int = 0

    def fail(self, step: str, error: CaError, times: int = 1) -> None:
        self.failures.append(Failure(step, error, times))

    def check(self, step: str) -> None:
        if self.down:
            raise CaError(
                step,
                f"cannot reach {URL} (Connection refused)",
                code="network",
            )
        if self.decide is not None:
            error = self.decide(step, self.current)
            if error is not None:
                raise error
        for failure in self.failures:
            if failure.step == step and failure.times > 0:
                failure.times -= 1
                raise failure.error

    def sign(self, csr_pem: bytes) -> str:
        csr = x509.load_pem_x509_csr(csr_pem)
        now = self.clock()
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.root.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + self.lifetime)
            .add_extension(sans.value, critical=False)
            .add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.root.key.public_key()
                ),
                critical=False,
            )
            .sign(self.root.key, hashes.SHA256())
        )
        self.issued += 1
        return (cert.public_bytes(Encoding.PEM) + self.root.pem).decode()


@dataclass
class _Order:
    uri: str
    csr_pem: bytes


@dataclass
class _Pending:
    identifier: str
    token: str
    key_authorization: str


class FakeSession:
    """The `AcmeSession` interface `accounts` and `ordering` use."""

    ca: FakeCa

    def __init__(self, directory: Directory, account_key: Any, polling: Polling):
        self.directory = directory
        self.polling = polling
        self.ca.check("directory")

    def close(self) -> None:
        pass

    @property
    def requires_eab(self) -> bool:
        return False

    def register(self, email: str | None, eab: Any) -> str:
        self.ca.check("account")
        return "https://fake-ca.test/acct/1"

    def use_account(self, url: str) -> None:
        pass

    @property
    def offers_renewal_info(self) -> bool:
        return self.ca.window is not None

    def renewal_window(self, cert: x509.Certificate) -> RenewalWindow | None:
        if self.ca.window is None:
            return None
        self.ca.check("renewal information")
        self.ca.windows_asked += 1
        return self.ca.window(cert)

    def new_order(self, csr_pem: bytes) -> _Order:
        csr = x509.load_pem_x509_csr(csr_pem)
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        self.ca.current = str(sans.value.get_values_for_type(x509.DNSName)[0])
        self.ca.check("order")
        self.ca.orders += 1
        return _Order(f"https://fake-ca.test/order/{self.ca.orders}", csr_pem)

    def http01(self, order: _Order) -> list[_Pending]:
        token = f"token-{self.ca.orders}"
        return [_Pending("fake", token, f"{token}.thumbprint")]

    def answer(self, pending: _Pending) -> None:
        self.ca.check("challenge")

    def wait_validated(self, pending: list[_Pending], deadline: float) -> None:
        self.ca.check("validation")

    def finalize(self, order: _Order, deadline: float) -> str:
        self.ca.check("finalize")
        return self.ca.sign(order.csr_pem)


def install(monkeypatch: pytest.MonkeyPatch, ca: FakeCa) -> None:
    """Make every ACME session in this test talk to `ca`."""
    session_class = type("BoundFakeSession", (FakeSession,), {"ca": ca})
    monkeypatch.setattr(accounts, "AcmeSession", session_class)

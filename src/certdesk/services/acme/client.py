"""The ACME protocol session, over certbot's `acme` library.

The library does the JOSE and the message shapes. Two of its habits do not
suit an appliance and are replaced here: its polling helpers sleep a fixed
second per poll (an order against a fast CA takes a tenth of that), and it
retries a rejected nonce only once. Every failure leaves as a `CaError`
holding the CA's own words.
"""

import contextlib
import datetime as dt
import email.utils
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from acme import challenges, messages
from acme import errors as acme_errors
from acme.client import ClientNetwork, ClientV2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from certdesk import __version__
from certdesk.errors import InvalidInput, UpstreamFailed
from certdesk.services.acme.directories import Directory

log = logging.getLogger(__name__)

# A CA may reject a valid nonce now and then (Pebble does 5% by default).
BAD_NONCE_TRIES = 10
NETWORK_TIMEOUT = 30
ACCOUNT_GONE = "accountDoesNotExist"


class CaError(UpstreamFailed):
    """An ACME step failed; `detail` is what the CA said, `code` its error type.

    `retry_after` is in seconds when the CA asked for a pause (rate limits).
    """

    def __init__(
        self,
        step: str,
        detail: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        message = f"{step}: {detail}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
        self.step = step
        self.detail = detail
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class Polling:
    """How often to ask the CA about an order, and for how long at most.

    The first waits are short and double up to `interval`: a fast CA (an
    internal one, Pebble) is done in a tenth of a second, and a slow one is
    still asked only every `interval` once it has kept us waiting. A CA's
    Retry-After always wins.
    """

    interval: float = 1.0
    timeout: float = 120.0
    first: float = 0.05
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def wait(self, polls: int) -> float:
        """The pause after `polls` earlier polls of the same object."""
        return min(self.interval, self.first * 2.0**polls)


@dataclass(frozen=True)
class Eab:
    """External Account Binding: the key id and HMAC key the CA issued."""

    kid: str
    hmac_key: str = field(repr=False)


@dataclass(frozen=True)
class Http01:
    """One HTTP-01 challenge to answer: where to publish what."""

    identifier: str
    token: str
    key_authorization: str = field(repr=False)
    challenge: messages.ChallengeBody = field(repr=False)
    authorization: messages.AuthorizationResource = field(repr=False)


@dataclass(frozen=True)
class RenewalWindow:
    """When the CA suggests renewing one certificate, and when to ask again."""

    start: dt.datetime
    end: dt.datetime
    explanation_url: str | None = None
    retry_after: float | None = None


def _ari_id(cert: x509.Certificate) -> str:
    # The library builds the id (authority key id and serial, base64url) but
    # keeps the helper private; a test pins its output against RFC 9773.
    from acme.client import _renewal_info_path_component

    return str(_renewal_info_path_component(cert))


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


class _Network(ClientNetwork):
    """The library's network layer, retrying a rejected nonce several times."""

    def __init__(self, key: JWK, bundle_path: str | None) -> None:
        super().__init__(
            key=key,
            alg=ES256,
            user_agent=f"certdesk/{__version__}",
            timeout=NETWORK_TIMEOUT,
        )
        if bundle_path is not None:
            # requests takes a bundle path where the library's annotation says bool.
            self.verify_ssl = bundle_path  # type: ignore[assignment]

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        """The library's check, keeping an error's Retry-After (rate limits)."""
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as error:
            error.retry_after = retry_after(response)
            raise

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, BAD_NONCE_TRIES + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_TRIES:
                    raise
                log.debug("nonce rejected; retrying", extra={"attempt": attempt})
        raise AssertionError("unreachable")


class AcmeSession:
    """One conversation with one directory, signed with one account key."""

    def __init__(
        self,
        directory: Directory,
        account_key: ec.EllipticCurvePrivateKey,
        polling: Polling,
    ) -> None:
        self.directory = directory
        self.polling = polling
        self.jwk = JWKEC(key=account_key)
        self._bundle = _bundle_file(directory.ca_bundle_pem)
        self.net = _Network(self.jwk, self._bundle)
        with _speaking("directory", directory.url):
            self.acme_directory = ClientV2.get_directory(directory.url, self.net)
        self.client = ClientV2(self.acme_directory, self.net)

    def close(self) -> None:
        self.net.session.close()
        if self._bundle is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._bundle)

    def __enter__(self) -> "AcmeSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requires_eab(self) -> bool:
        return bool(self.client.external_account_required())

    def register(self, email: str | None, eab: Eab | None) -> str:
        """Create the account (or find the one this key has); its URL."""
        binding = None
        if eab is not None:
            try:
                binding = messages.ExternalAccountBinding.from_data(
                    account_public_key=self.jwk.public_key(),
                    kid=eab.kid,
                    hmac_key=eab.hmac_key,
                    directory=self.acme_directory,
                )
            except (ValueError, TypeError):
                raise InvalidInput(
                    "eab-hmac-file",
                    "does not hold a base64url HMAC key as the CA gave it",
                ) from None
        registration = messages.NewRegistration.from_data(
            email=email,
            terms_of_service_agreed=True,
            external_account_binding=binding,
        )
        self.net.account = None
        try:
            with _speaking("account", self.directory.url):
                regr = self.client.new_account(registration)
        except CaError as exc:
            if not isinstance(exc.__cause__, acme_errors.ConflictError):
                raise
            # The CA already knows this key: its URL came in the Location.
            url = str(exc.__cause__)
            self.use_account(url)
            return url
        url = str(regr.uri)
        self.use_account(url)
        return url

    def use_account(self, url: str) -> None:
        self.net.account = messages.RegistrationResource(
            body=messages.Registration(), uri=url
        )

    @property
    def offers_renewal_info(self) -> bool:
        # The library's Directory answers `in` by iterating, not by field.
        try:
            self.acme_directory["renewalInfo"]
        except KeyError:
            return False
        return True

    def renewal_window(self, cert: x509.Certificate) -> "RenewalWindow | None":
        """The CA's suggested renewal window for `cert` (ACME ARI, RFC 9773).

        None when the directory offers no renewal information. The
        certificate's ARI id comes from the library's own helper.
        """
        if not self.offers_renewal_info:
            return None
        base = str(self.acme_directory["renewalInfo"]).rstrip("/")
        url = f"{base}/{_ari_id(cert)}"
        with _speaking("renewal information", self.directory.url):
            response = self.net.get(url, content_type="application/json")
            body = response.json()
            info = messages.RenewalInfo.from_json(body)
        window = info.suggested_window
        if window.start is None or window.end is None or window.end < window.start:
            raise CaError(
                "renewal information", "the CA sent no usable suggested window"
            )
        return RenewalWindow(
            start=_utc(window.start),
            end=_utc(window.end),
            explanation_url=body.get("explanationURL"),
            retry_after=retry_after(response),
        )

    def new_order(self, csr_pem: bytes) -> messages.OrderResource:
        with _speaking("order", self.directory.url):
            return self.client.new_order(csr_pem)

    def http01(self, order: messages.OrderResource) -> list[Http01]:
        """The HTTP-01 challenges of the authorizations still pending."""
        found = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue
            identifier = str(authz.body.identifier.value)
            for challb in authz.body.challenges:
                if isinstance(challb.chall, challenges.HTTP01):
                    _, validation = challb.chall.response_and_validation(self.jwk)
                    token = challb.chall.encode("token")
                    found.append(Http01(identifier, token, validation, challb, authz))
                    break
            else:
                raise CaError(
                    "challenge",
                    f"the CA offers no HTTP-01 challenge for {identifier}",
                    hint="this appliance answers HTTP-01 only",
                )
        return found

    def answer(self, pending: Http01) -> None:
        """Tell the CA the answer is published and it may validate."""
        response = pending.challenge.chall.response(self.jwk)
        with _speaking("challenge", pending.identifier):
            self.client.answer_challenge(pending.challenge, response)

    def wait_validated(self, pending: list[Http01], deadline: float) -> None:
        """Poll each authorization until valid; the CA's words if one fails."""
        for item in pending:
            authz = item.authorization
            polls = 0
            while True:
                with _speaking("validation", item.identifier):
                    authz, response = self.client.poll(authz)
                status = authz.body.status
                if status == messages.STATUS_VALID:
                    break
                if status != messages.STATUS_PENDING:
                    raise CaError(
                        "validation",
                        _authorization_problem(item.identifier, authz),
                        code=_authorization_code(authz),
                        hint="the CA did not get the answer from "
                        f"http://{item.identifier}/.well-known/acme-challenge/"
                        "TOKEN on its HTTP port (80 for public CAs)",
                    )
                self._pause(response, deadline, "validation", polls)
                polls += 1

    def finalize(self, order: messages.OrderResource, deadline: float) -> str:
        """Send the request, wait for issuance, and download the chain (PEM)."""
        with _speaking("finalize", self.directory.url):
            order = self.client.begin_finalization(order)
        polls = 0
        while True:
            body = order.body
            if body.status == messages.STATUS_VALID and body.certificate:
                with _speaking("download", self.directory.url):
                    return self._post_as_get(str(body.certificate)).text
            if body.status == messages.STATUS_INVALID:
                detail = str(body.error.detail or body.error) if body.error else ""
                raise CaError("finalize", detail or "the CA refused to issue")
            with _speaking("finalize", self.directory.url):
                response = self._post_as_get(str(order.uri))
                order = order.update(body=messages.Order.from_json(response.json()))
            if order.body.status == messages.STATUS_READY:
                with _speaking("finalize", self.directory.url):
                    order = self.client.begin_finalization(order)
                continue
            if order.body.status == messages.STATUS_PROCESSING:
                self._pause(response, deadline, "finalize", polls)
                polls += 1

    def revoke(self, cert: x509.Certificate, reason: int) -> None:
        with _speaking("revoke", self.directory.url):
            self.client.revoke(cert, reason)

    def _post_as_get(self, url: str) -> requests.Response:
        return self.net.post(url, None, new_nonce_url=self.acme_directory["newNonce"])

    def _pause(
        self, response: requests.Response, deadline: float, step: str, polls: int
    ) -> None:
        """Wait the poll interval, or longer when the CA says Retry-After."""
        wait = max(self.polling.wait(polls), retry_after(response) or 0.0)
        if time.monotonic() + wait > deadline:
            raise CaError(
                step,
                f"the CA did not finish within {self.polling.timeout:g} s",
                hint="try again later",
            )
        self.polling.sleep(wait)


def retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (delta or HTTP date), when the CA sent one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _authorization_problem(
    identifier: str, authz: messages.AuthorizationResource
) -> str:
    for challb in authz.body.challenges:
        if challb.error is not None:
            return f"{identifier}: {_words(challb.error)}"
    return f"{identifier}: authorization is {authz.body.status}"


def _authorization_code(authz: messages.AuthorizationResource) -> str | None:
    for challb in authz.body.challenges:
        if challb.error is not None:
            return str(challb.error.code or challb.error.typ)
    return None


def _words(error: messages.Error) -> str:
    """The CA's own description of a problem, with its type."""
    code = error.code or str(error.typ).rsplit(":", 1)[-1]
    text = error.detail or error.title or error.description or "no detail given"
    return f"{text} ({code})"


@contextlib.contextmanager
def _speaking(step: str, about: str) -> Iterator[None]:
    """Turn the library's and the network's exceptions into a `CaError`."""
    try:
        yield
    except messages.Error as exc:
        waited = getattr(exc, "retry_after", None)
        raise CaError(step, _words(exc), code=exc.code, retry_after=waited) from exc
    except acme_errors.ConflictError as exc:
        raise CaError(step, "the account already exists", code="conflict") from exc
    except acme_errors.Error as exc:
        raise CaError(step, str(exc) or type(exc).__name__) from exc
    except requests.exceptions.SSLError as exc:
        raise CaError(
            step,
            f"the TLS certificate of {about} did not verify ({_reason(exc)})",
            code="tls",
            hint="for an internal CA give its root with --ca-bundle",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise CaError(
            step,
            f"cannot reach {about} ({_reason(exc)})",
            code="network",
            hint="check the URL and that this appliance reaches the CA on 443",
        ) from exc


def _reason(exc: Exception) -> str:
    """The innermost cause, which is the part a person can act on."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        if not isinstance(nxt, Exception):
            break
        exc = nxt
    return str(exc).split(": ", 1)[-1][:300] or type(exc).__name__


def _bundle_file(pem: str | None) -> str | None:
    """requests reads trust roots from a file: one that lives for the session."""
    if not pem:
        return None
    fd, path = tempfile.mkstemp(prefix="certdesk-ca-", suffix=".pem")
    with os.fdopen(fd, "w") as fh:
        fh.write(pem)
    return path

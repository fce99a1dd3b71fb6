"""The errors certdesk raises on purpose.

Every error a user can cause is a `CertdeskError`: its message says what was
wrong and what to do next, and it never carries key material, passphrases or
tokens. The interfaces map these classes to exit codes and HTTP statuses in one
place each; anything else reaching an interface is a bug.
"""


class CertdeskError(Exception):
    """Root of every error certdesk raises deliberately."""


class InvalidInput(CertdeskError):
    """A value given by the user breaks a rule; `field` names which value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class RejectedFile(CertdeskError):
    """A file offered for import cannot be used; `filename` names which one."""

    def __init__(self, filename: str, message: str) -> None:
        super().__init__(f"{filename}: {message}")
        self.filename = filename
        self.reason = message


class WrongPassphrase(RejectedFile):
    """The passphrase does not open the file (or none was given for it)."""


class NotFound(CertdeskError):
    """No object answers to the id or friendly name the user gave."""

    def __init__(self, kind: str, ref: str) -> None:
        super().__init__(
            f"no {kind} {ref!r}; list them with 'certdesk {kind_command(kind)} list'"
        )
        self.kind = kind
        self.ref = ref


class Ambiguous(CertdeskError):
    """A friendly name matches several objects; the user must give an id."""

    def __init__(self, kind: str, ref: str, ids: list[int]) -> None:
        joined = ", ".join(str(i) for i in ids)
        super().__init__(
            f"{kind} name {ref!r} is used by ids {joined}; name one of them by id"
        )
        self.kind = kind
        self.ref = ref
        self.ids = ids


class Conflict(CertdeskError):
    """The operation is valid in general but not in the store's current state."""


class NotSignedIn(CertdeskError):
    """No valid session or API token came with the request."""


class Forbidden(CertdeskError):
    """The account is known but its role does not allow this operation."""


class LoginRefused(CertdeskError):
    """A sign-in attempt failed or is throttled; `retry_after` is in seconds.

    The message never says whether the user name exists.
    """

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(CertdeskError):
    """A request body (usually an upload) is over the configured limit."""


class UpstreamFailed(CertdeskError):
    """Another system certdesk relies on (an ACME CA, a mail relay) refused or
    failed; the message carries that system's own words."""


class DataDirError(CertdeskError):
    """The data directory is missing, unreadable, or its master key is wrong."""


class StartupError(CertdeskError):
    """`serve` cannot start: an address in use, a privileged port, and such."""


def kind_command(kind: str) -> str:
    """The CLI group that lists objects of `kind`."""
    return {"certificate": "cert", "api token": "token"}.get(kind, kind)

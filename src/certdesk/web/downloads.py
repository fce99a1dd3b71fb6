"""Files handed to a browser or a script: exports and request data.

Pages and API send them the same way: as an attachment with a file name made
safe from the friendly name, the format's media type, and no caching, since
an export may hold an (encrypted) private key.
"""

import re
from dataclasses import dataclass

from starlette.responses import Response

from certdesk.pki.encode import ExportFormat


@dataclass(frozen=True)
class Download:
    """How a kind of file is described and sent."""

    label: str
    media_type: str
    suffix: str


EXPORT_FORMATS = {
    ExportFormat.PEM: Download("PEM (.pem), text", "application/x-pem-file", ".pem"),
    ExportFormat.DER: Download(
        "DER (.cer), the certificate alone", "application/pkix-cert", ".cer"
    ),
    ExportFormat.P7B: Download(
        "PKCS#7 (.p7b), certificate and chain", "application/pkcs7-mime", ".p7b"
    ),
    ExportFormat.P12: Download(
        "PKCS#12 (.p12), for another appliance or server",
        "application/x-pkcs12",
        ".p12",
    ),
}

REQUEST_DATA = Download("PKCS#10 request (.csr), PEM", "application/pkcs10", ".csr")


def file_name(name: str, object_id: int, suffix: str) -> str:
    """A friendly name as a file name: ASCII letters, digits, '.', '-' and '_'."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("._-")[:80]
    stem = stem or f"certdesk-{object_id}"
    return f"{stem}{suffix}"


def attachment(
    data: bytes | str, kind: Download, name: str, object_id: int
) -> Response:
    filename = file_name(name, object_id, kind.suffix)
    return Response(
        data,
        media_type=kind.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )

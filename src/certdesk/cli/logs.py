"""Operational log for the command line: one line per record, fields as key=value.

Objects travel in the fields of a record (`extra=`), from one shared list of
names, so that log lines can be searched by certificate or fingerprint.
"""

import logging

FIELDS = (
    "cert",
    "fingerprint",
    "request",
    "user",
    "token",
    "directory",
    "identifiers",
    "not_after",
    "sni",
    "node",
    "path",
    "format",
    "subject",
    "https",
    "http",
)


class FieldFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [
            f"{name}={getattr(record, name)!r}"
            for name in FIELDS
            if getattr(record, name, None) is not None
        ]
        return " ".join([line, *pairs])


def configure(level: str) -> None:
    """certdesk's records at `level`; the HTTP server's at warning or above."""
    handler = logging.StreamHandler()
    handler.setFormatter(FieldFormatter("%(levelname)s %(name)s: %(message)s"))
    for name, floor in (("certdesk", logging.DEBUG), ("uvicorn", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(max(logging.getLevelName(level.upper()), floor))
        logger.propagate = False

"""Operational log for the command line: one line per record, fields as key=value.

Objects travel in the fields of a record (`extra=`), from one shared list of
names, so that log lines can be searched by certificate or fingerprint.
"""

import logging

FIELDS = (
    "cert",
    "fingerprint",
    "request",
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
    handler = logging.StreamHandler()
    handler.setFormatter(FieldFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("certdesk")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

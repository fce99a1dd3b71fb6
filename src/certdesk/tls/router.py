"""Choosing the certificate per handshake, from the SNI the client sends."""

import datetime as dt
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable

from certdesk.pki.selection import ServedSet
from certdesk.tls.contexts import base_context

log = logging.getLogger(__name__)

# Builds the serving context of one stored certificate, by id.
ContextLoader = Callable[[int], ssl.SSLContext]

# A context holds about 30 KiB; past this many, the least recently used is
# dropped and rebuilt (a few milliseconds) if its certificate is asked again.
MAX_CONTEXTS = 4096


class SniRouter:
    """Holds the served set and a context per certificate, built on first use.

    `update` swaps in a new snapshot; handshakes already under way finish with
    the context they had, so open connections are never dropped by a change.
    """

    def __init__(
        self,
        loader: ContextLoader,
        clock: Callable[[], dt.datetime],
        max_contexts: int = MAX_CONTEXTS,
    ) -> None:
        self._loader = loader
        self._clock = clock
        self._served = ServedSet([], None)
        self._contexts: OrderedDict[int, ssl.SSLContext] = OrderedDict()
        self._max_contexts = max_contexts

    @property
    def served(self) -> ServedSet:
        return self._served

    def update(self, served: ServedSet) -> None:
        self._served = served
        # Contexts of certificates no longer served are dropped; a stored
        # certificate never changes under its id, so the others stay valid.
        for cert_id in set(self._contexts) - served.ids:
            del self._contexts[cert_id]

    def listening_context(self) -> ssl.SSLContext:
        """The context the socket listens with: it only asks `choose` per client."""
        context = base_context()
        context.sni_callback = self._on_client_hello
        return context

    def context_for(self, cert_id: int) -> ssl.SSLContext:
        context = self._contexts.get(cert_id)
        if context is not None:
            self._contexts.move_to_end(cert_id)
            return context
        context = self._loader(cert_id)
        self._contexts[cert_id] = context
        if len(self._contexts) > self._max_contexts:
            self._contexts.popitem(last=False)
        return context

    @property
    def cached(self) -> int:
        return len(self._contexts)

    def _on_client_hello(
        self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        choice = self._served.choose(server_name, self._clock())
        if choice.certificate is None:
            log.warning("no certificate to serve", extra={"sni": server_name})
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        try:
            connection.context = self.context_for(choice.certificate.id)
        except Exception:
            log.exception(
                "cannot load certificate for handshake",
                extra={"sni": server_name, "cert": choice.certificate.name},
            )
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        log.debug(
            "handshake",
            extra={"sni": server_name, "cert": choice.certificate.name},
        )
        return None

import ssl

from certdesk.pki.selection import Servable, ServedSet
from certdesk.tls.contexts import base_context
from certdesk.tls.router import SniRouter
from tests.pkitools import NOW


def _servable(cert_id: int) -> Servable:
    return Servable(cert_id, f"c{cert_id}", (f"h{cert_id}.test",), NOW, NOW, True)


def test_contexts_are_built_once_on_first_use_and_bounded() -> None:
    built: list[int] = []

    def loader(cert_id: int) -> ssl.SSLContext:
        built.append(cert_id)
        return base_context()

    router = SniRouter(loader, lambda: NOW, max_contexts=2)
    router.update(ServedSet([_servable(i) for i in range(1, 4)], default_id=1))
    assert built == []  # nothing at start

    first = router.context_for(1)
    assert router.context_for(1) is first
    router.context_for(2)
    router.context_for(1)  # 1 is now the most recently used
    router.context_for(3)  # evicts 2
    assert router.cached == 2
    router.context_for(1)
    router.context_for(2)
    assert built == [1, 2, 3, 2]


def test_update_drops_contexts_of_certificates_no_longer_served() -> None:
    router = SniRouter(lambda _: base_context(), lambda: NOW)
    router.update(ServedSet([_servable(1), _servable(2)], default_id=1))
    router.context_for(1)
    router.context_for(2)
    router.update(ServedSet([_servable(2)], default_id=2))
    assert router.cached == 1

"""schemathesis against the API's own OpenAPI document, as an admin.

Every operation is called with generated input, valid and invalid, on a
store that already holds a chain, a self-signed certificate, a request,
users and tokens, so that generated ids often name something. Whatever the
input, the server must not fail (no 5xx) and every answer must be one the
document declares, in the declared shape and media type.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import certificates, requests, setup
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, import_files
from certdesk.store.datadir import DataDir
from certdesk.web.config import WebConfig
from certdesk.web.site import https_app
from tests.conftest import FakeClock
from tests.pkitools import three_levels
from tests.webtools import Site, running_site

# These reach outside systems (an ACME CA, a mail relay) with whatever names
# and hosts are generated; they are tested against Pebble and aiosmtpd in
# tests/web/test_acme_pages.py and tests/web/test_mail_settings.py instead.
OUTWARD = {("POST", "/api/v1/acme/certificates"), ("POST", "/api/v1/mail/test")}

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@dataclass(frozen=True)
class Seeded:
    site: Site
    headers: dict[str, str]
    token_id: int
    spare_token_id: int


@pytest.fixture
def seeded(tmp_path: Path, clock: FakeClock) -> Iterator[Seeded]:
    """A populated appliance on SQLite: the API is the layer under test here,
    and the services below it run on both databases in their own tests."""
    data_dir = DataDir(tmp_path / "data")
    setup.init(data_dir, "test", clock)
    store = setup.open_store(data_dir)
    ctx = Context(store, actor="test", clock=clock)
    try:
        levels = three_levels("www.example.test", "*.example.test")
        files = [
            ImportFile("leaf.pem", levels.leaf.pem + levels.leaf.key_pem),
            ImportFile("chain.pem", levels.intermediate.pem + levels.root.pem),
        ]
        import_files(ctx, files, None)
        subject = check_subject(common_name="seed.example.test")
        certificates.create_self_signed(
            ctx, name="Seed", key_type=KeyType.P256, subject=subject
        )
        requests.create_request(
            ctx, name="Seed request", key_type=KeyType.P256, subject=subject
        )
        with running_site(ctx, clock) as site:
            site.user(Role.ADMIN, "admin")
            site.user(Role.AUDITOR, "auditor")
            spare_id, _ = site.token(Role.AUDITOR, "spare")
            token_id, secret = site.token(Role.ADMIN, "schemathesis")
            yield Seeded(
                site, {"Authorization": f"Bearer {secret}"}, token_id, spare_id
            )
    finally:
        store.close()


# The document is read once, from an app whose context is never used: every
# call goes to the test's own seeded app (`app=`). schemathesis's lazy
# loading from a fixture does not run on this pytest (it reads a private
# attribute of the test item that pytest 9 dropped).
_DOCUMENT_APP = https_app(WebConfig(cast(Context, None)))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _DOCUMENT_APP)


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_answers_as_documented(case: Case[Any], seeded: Seeded) -> None:
    if (case.method, case.path) in OUTWARD:
        return
    if (
        case.method == "DELETE"
        and case.path == "/api/v1/tokens/{id}"
        and case.path_parameters
        # Generated values may be numbers or the text of one.
        and str(case.path_parameters.get("id")) == str(seeded.token_id)
    ):
        # Revoking its own token would leave the rest of the run at 401.
        case.path_parameters["id"] = seeded.spare_token_id
    case.call_and_validate(headers=seeded.headers, checks=CHECKS, app=seeded.site.app)

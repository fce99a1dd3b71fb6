"""The API's docs page: every operation of the document, and nothing fetched."""

from collections.abc import Iterator

import pytest

from certdesk.services.context import Context
from tests.conftest import FakeClock
from tests.webtools import Site, running_site


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


def test_the_docs_page_lists_every_operation_and_loads_no_script(site: Site) -> None:
    stranger = site.anonymous()
    document = stranger.get("/api/v1/openapi.json").json()
    page = stranger.get("/api/v1/docs")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]

    html = page.text
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert f"<code>{method.upper()} {path}</code>" in html
            assert operation["operationId"] in html

    # Limits read as a person writes them.
    assert "at most 3650;" in html or "at most 3650)" in html
    assert "3650.0" not in html
    assert "at least 1 characters" not in html

"""The upload cap on the Import page, in-process: a body over it is refused
with 413 and a message that says what to do, whether its length is declared
up front or it arrives in chunks."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from certdesk.services import accounts, setup
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from certdesk.web.config import WebConfig
from certdesk.web.site import https_app

CAP = 64 * 1024
PASSWORD = "upload test password"


def test_an_upload_over_the_cap_is_413_with_the_limit_named(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    setup.init(data_dir, "test")
    store = setup.open_store(data_dir)
    try:
        ctx = Context(store, actor="test")
        accounts.add_user(ctx, "admin", role=Role.ADMIN, password=PASSWORD)
        app = https_app(WebConfig(ctx, max_upload_bytes=CAP))
        asyncio.run(_upload_too_much(app))
    finally:
        store.close()


async def _upload_too_much(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver"
    ) as client:
        login = await client.get("/appliance/login")
        await client.post(
            "/appliance/login",
            data={
                "csrf": _csrf(login.text),
                "username": "admin",
                "password": PASSWORD,
                "next": "",
            },
        )
        form = await client.get("/appliance/certificates/import")
        assert form.status_code == 200
        csrf = _csrf(form.text)
        too_big = b"-----BEGIN CERTIFICATE-----\n" + b"A" * (CAP + 1)

        declared = await client.post(
            "/appliance/certificates/import",
            data={"csrf": csrf},
            files={"files": ("bundle.pem", too_big, "application/x-pem-file")},
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"].startswith("text/html")
        assert "larger than the 0.0625 MiB limit" in declared.text

        # The API gets the same refusal as JSON.
        api = await client.post("/api/v1/certificates/import", content=too_big)
        assert api.status_code == 413
        assert "larger than the 0.0625 MiB limit" in api.json()["error"]

        body = (
            (
                f"--x\r\ncontent-disposition: form-data; name=csrf\r\n\r\n{csrf}\r\n"
                "--x\r\ncontent-disposition: form-data; name=files; "
                "filename=bundle.pem\r\n\r\n"
            ).encode()
            + too_big
            + b"\r\n--x--\r\n"
        )

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        streamed = await client.post(
            "/appliance/certificates/import",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert streamed.status_code == 413
        assert "larger than the 0.0625 MiB limit" in streamed.text
        assert "raise max_upload_mib" in streamed.text

        # Nothing was imported, and a file under the cap still gets through
        # to the importer, which names the file it cannot read.
        small = await client.post(
            "/appliance/certificates/import",
            data={"csrf": csrf},
            files={"files": ("note.txt", b"not a certificate", "text/plain")},
        )
        assert small.status_code == 422
        assert "note.txt" in small.text


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)

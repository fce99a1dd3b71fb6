"""The REST API under /api/v1: JSON, bearer tokens, described by OpenAPI.

One module per concept; each route calls one service, as the pages do.
"""

from fastapi import APIRouter, Security
from fastapi.security import HTTPBearer

from certdesk.web.api import (
    acme,
    certificates,
    docs,
    events,
    mail,
    requests,
    serving,
    status,
    tokens,
    users,
)

# Declares the bearer scheme in the OpenAPI document; it refuses nothing
# itself: each route's Guard (web/auth.py) authenticates the token.
BEARER = HTTPBearer(
    scheme_name="token",
    description="An API token from 'certdesk token create' or POST /tokens.",
    auto_error=False,
)

documented = APIRouter(dependencies=[Security(BEARER)])
for module in (
    status,
    certificates,
    acme,
    requests,
    serving,
    users,
    tokens,
    mail,
    events,
):
    documented.include_router(module.router)

router = APIRouter(prefix="/api/v1")
router.include_router(documented)
router.include_router(docs.router)

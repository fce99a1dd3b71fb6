"""The REST API under /api/v1: JSON, bearer tokens, described by OpenAPI."""

from fastapi import APIRouter

from certdesk.web.api import status

router = APIRouter(prefix="/api/v1")
for module in (status,):
    router.include_router(module.router)

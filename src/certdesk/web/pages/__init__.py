"""The administrators' pages under /appliance: server-rendered, no JavaScript needed."""

from fastapi import APIRouter

from certdesk.web.pages import account, status

router = APIRouter(include_in_schema=False)
for module in (account, status):
    router.include_router(module.router)

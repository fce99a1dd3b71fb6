"""The administrators' pages under /appliance: server-rendered, no JavaScript needed."""

from fastapi import APIRouter

from certdesk.web.pages import (
    account,
    certificates,
    events,
    requests,
    status,
    users,
)

router = APIRouter(include_in_schema=False)
for module in (account, status, certificates, requests, users, events):
    router.include_router(module.router)

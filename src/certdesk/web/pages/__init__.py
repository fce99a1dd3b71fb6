"""The administrators' pages under /appliance: server-rendered, no JavaScript needed."""

from fastapi import APIRouter

from certdesk.web.pages import (
    account,
    acme,
    certificates,
    events,
    mail,
    requests,
    status,
    users,
)

router = APIRouter(include_in_schema=False)
for module in (account, status, acme, certificates, requests, users, mail, events):
    router.include_router(module.router)

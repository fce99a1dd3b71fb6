"""Making and opening a data directory."""

import contextlib
import logging
import os
import socket
from dataclasses import dataclass

from certdesk.errors import DataDirError, InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_dns_name, check_subject
from certdesk.services import certificates
from certdesk.services.context import Clock, Context, system_clock
from certdesk.services.views import FACTORY_DEFAULT
from certdesk.store import appliance
from certdesk.store.database import Store
from certdesk.store.datadir import DATABASE_URL_ENV, DataDir
from certdesk.store.sealing import MASTER_KEY_ENV, create_master_key, load_master_key

log = logging.getLogger(__name__)

FACTORY_NAME = "Factory default (self-signed)"
FACTORY_DAYS = 825


@dataclass(frozen=True)
class InitResult:
    created: bool
    data_dir: DataDir
    default_certificate_id: int | None


def init(data_dir: DataDir, actor: str, clock: Clock = system_clock) -> InitResult:
    """Create the data directory, master key, schema and factory default.

    Running it on a directory that is already set up changes nothing.
    """
    data_dir.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not os.environ.get(MASTER_KEY_ENV) and not data_dir.master_key_path.exists():
        if data_dir.database_path.exists():
            raise DataDirError(
                f"{data_dir.database_path} exists but its master key "
                f"{data_dir.master_key_path} is missing; restore the key file or "
                f"set {MASTER_KEY_ENV}; a new key cannot open the sealed keys"
            )
        create_master_key(data_dir.master_key_path)

    store = Store.open(data_dir.database_url, load_master_key(data_dir.master_key_path))
    try:
        ctx = Context(store, actor, clock)
        with store.transaction() as session:
            existing = appliance.find(session)
            if existing is None:
                appliance.create(session, store.master_key, ctx.now())
            else:
                appliance.get(session, store.master_key)
                if existing.default_certificate_id is not None:
                    return InitResult(False, data_dir, existing.default_certificate_id)
        # Reached also when an earlier init stopped before this step.
        default_id = _factory_default(ctx)
        log.info("data directory initialised", extra={"path": str(data_dir.path)})
        return InitResult(True, data_dir, default_id)
    finally:
        store.close()


def _factory_default(ctx: Context) -> int:
    """A self-signed certificate so that the appliance can serve at once."""
    names = ["localhost"]
    host = socket.gethostname()
    with contextlib.suppress(InvalidInput):
        names.insert(0, check_dns_name(host))
    subject = check_subject(common_name="certdesk factory default", sans=names)
    created = certificates.create_self_signed(
        ctx,
        name=FACTORY_NAME,
        key_type=KeyType.P256,
        subject=subject,
        days=FACTORY_DAYS,
        source=FACTORY_DEFAULT,
    )
    certificates.set_default(ctx, str(created.view.id))
    return created.view.id


def open_store(data_dir: DataDir) -> Store:
    """The store of an initialised data directory, with its key proven."""
    if not data_dir.exists() and not os.environ.get(DATABASE_URL_ENV):
        raise DataDirError(
            f"{data_dir.path} is not a certdesk data directory: run 'certdesk init' "
            "or pass --data-dir"
        )
    store = Store.open(data_dir.database_url, load_master_key(data_dir.master_key_path))
    try:
        with store.transaction() as session:
            appliance.get(session, store.master_key)
    except Exception:
        store.close()
        raise
    return store

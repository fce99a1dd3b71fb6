"""What the servers watch: the revision moves with certificates, not sign-ins."""

import pytest

from certdesk.errors import LoginRefused
from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import accounts, certificates, serving
from certdesk.services.accounts import Role
from certdesk.services.context import Context


def test_sign_ins_do_not_move_the_revision(ctx: Context) -> None:
    accounts.add_user(ctx, "alice", role=Role.ADMIN, password="a long passphrase")
    before = serving.revision(ctx)

    accounts.log_in(ctx, "alice", "a long passphrase")
    with pytest.raises(LoginRefused):
        accounts.log_in(ctx, "alice", "not the passphrase")
    assert serving.revision(ctx) == before

    certificates.create_self_signed(
        ctx,
        name="site",
        key_type=KeyType.P256,
        subject=check_subject(common_name="site.example.test"),
    )
    assert serving.revision(ctx) > before

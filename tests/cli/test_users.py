"""`certdesk user` and `certdesk token`, and the first admin `serve` makes."""

import dataclasses
import datetime as dt
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.errors import LoginRefused
from certdesk.services import accounts, setup, tokens
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from tests.conftest import FakeClock, RunCli

PASSWORD = "a long enough password"
ONE_TIME = re.compile(r"One-time password: (\S+)")


@pytest.fixture
def service(data_dir: DataDir) -> Iterator[Context]:
    """The same data directory, reached through the services, as the web does."""
    store = setup.open_store(data_dir)
    try:
        yield Context(store, actor="test")
    finally:
        store.close()


def _one_time(out: str) -> str:
    found = ONE_TIME.search(out)
    assert found is not None, out
    return found.group(1)


def test_add_prints_the_one_time_password_once(initialised: RunCli) -> None:
    added = initialised("user", "add", "Alice", "--role", "admin")
    assert added.code == 0, added.err
    assert "Created user alice (admin)" in added.out
    assert "must be changed at the first sign-in" in added.out
    one_time = _one_time(added.out)

    listed = initialised("user", "list")
    assert "alice" in listed.out
    assert "must change password" in listed.out
    assert one_time not in listed.out + initialised("user", "list", "--json").out


def test_add_json_and_a_password_from_a_file(
    initialised: RunCli, tmp_path: Path, service: Context
) -> None:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    added = initialised(
        "user", "add", "bob", "--role", "auditor", "--email", "bob@example.test",
        "--password-file", str(path), "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    data = json.loads(added.out)
    assert data["one_time_password"] is None
    assert (data["role"], data["email"]) == ("auditor", "bob@example.test")
    assert not data["must_change_password"]
    assert accounts.log_in(service, "bob", PASSWORD).username == "bob"

    with_otp = json.loads(
        initialised("user", "add", "carol", "--role", "admin", "--json").out
    )
    accounts.log_in(service, "carol", with_otp["one_time_password"])


def test_a_password_from_standard_input(
    initialised: RunCli, monkeypatch: pytest.MonkeyPatch, service: Context
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    added = initialised(
        "user", "add", "dave", "--role", "admin", "--password-file", "-"
    )
    assert added.code == 0, added.err
    assert "One-time password" not in added.out
    accounts.log_in(service, "dave", PASSWORD)


def test_bad_input_is_rejected_with_a_reason(
    initialised: RunCli, tmp_path: Path
) -> None:
    assert initialised("user", "add", "x", "--role", "root").code == 2
    bad_name = initialised("user", "add", "no spaces", "--role", "admin")
    assert bad_name.code == 1
    assert "username:" in bad_name.err
    short = tmp_path / "short.txt"
    short.write_text("short\n")
    too_short = initialised(
        "user", "add", "erin", "--role", "admin", "--password-file", str(short)
    )
    assert too_short.code == 1
    assert "at least 12" in too_short.err
    assert "short" not in too_short.err.replace("too short", "")
    missing = initialised("user", "disable", "nobody")
    assert missing.code == 1
    assert "certdesk user list" in missing.err


def test_disable_enable_reset_and_email(initialised: RunCli, service: Context) -> None:
    assert initialised("user", "add", "alice", "--role", "admin").code == 0
    assert initialised("user", "add", "bob", "--role", "auditor").code == 0

    last = initialised("user", "disable", "alice")
    assert last.code == 1
    assert "only enabled administrator" in last.err

    assert "Disabled bob" in initialised("user", "disable", "bob").out
    assert "disabled" in initialised("user", "list").out
    assert "Enabled bob" in initialised("user", "enable", "bob").out

    reset = initialised("user", "reset-password", "bob")
    assert reset.code == 0, reset.err
    assert "must be changed at the next sign-in" in reset.out
    assert accounts.log_in(service, "bob", _one_time(reset.out)).must_change_password
    again = json.loads(initialised("user", "reset-password", "bob", "--json").out)
    with pytest.raises(LoginRefused):
        accounts.log_in(service, "bob", _one_time(reset.out))
    accounts.log_in(service, "bob", again["one_time_password"])

    assert (
        "bob@example.test"
        in initialised("user", "set-email", "bob", "bob@example.test").out
    )
    cleared = initialised("user", "set-email", "bob", "--json")
    assert json.loads(cleared.out)["email"] is None


def test_list_shows_a_lock_and_reset_lifts_it(
    initialised: RunCli, service: Context
) -> None:
    assert initialised("user", "add", "alice", "--role", "admin").code == 0
    clock = FakeClock()
    clock.now = dt.datetime.now(dt.UTC)
    stranger = dataclasses.replace(service, clock=clock)
    for failures in range(1, 11):
        with pytest.raises(LoginRefused):
            accounts.log_in(stranger, "alice", "wrong", client="web:203.0.113.9")
        clock.advance(seconds=2 ** max(0, failures - 3))
    assert "locked from 1 address until" in initialised("user", "list").out
    listed = json.loads(initialised("user", "list", "--json").out)
    assert listed[0]["locked_clients"] == 1

    assert initialised("user", "reset-password", "alice").code == 0
    assert "locked" not in initialised("user", "list").out


def test_tokens_are_shown_once_and_can_be_revoked(
    initialised: RunCli, service: Context
) -> None:
    created = initialised("token", "create", "backup", "--role", "auditor")
    assert created.code == 0, created.err
    assert "cannot be shown again" in created.out
    secret = re.search(r"Token: (\S+)", created.out)
    assert secret is not None
    principal = tokens.authenticate(service, secret.group(1))
    assert principal is not None
    assert principal.actor == "token:backup"

    listed = initialised("token", "list")
    assert "backup" in listed.out
    assert "active" in listed.out
    as_json = initialised("token", "list", "--json").out
    assert secret.group(1) not in listed.out + as_json
    assert json.loads(as_json)[0]["created_by"].startswith("cli")

    taken = initialised("token", "create", "backup", "--role", "admin")
    assert taken.code == 1
    assert "in use" in taken.err

    revoked = initialised("token", "revoke", "backup", "--json")
    assert revoked.code == 0, revoked.err
    assert json.loads(revoked.out)["revoked_at"] is not None
    assert tokens.authenticate(service, secret.group(1)) is None
    assert "revoked" in initialised("token", "list").out
    assert initialised("token", "revoke", "99").code == 1

    fresh = json.loads(
        initialised("token", "create", "backup", "--role", "admin", "--json").out
    )
    assert fresh["token"].startswith(tokens.TOKEN_PREFIX)


def test_no_password_token_or_hash_in_logs_errors_or_events(
    initialised: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    debug = ("--log-level", "debug")
    results = [
        initialised(*debug, "user", "add", "alice", "--role", "admin"),
        initialised(*debug, "user", "add", "bob", "--role", "admin",
                    "--password-file", str(path)),
        initialised(*debug, "user", "reset-password", "alice"),
        initialised(*debug, "token", "create", "ci", "--role", "admin"),
        initialised(*debug, "token", "revoke", "ci"),
        initialised(*debug, "user", "disable", "alice"),
    ]  # fmt: skip
    assert all(r.code == 0 for r in results), [r.err for r in results]
    secrets = [
        _one_time(results[0].out),
        PASSWORD,
        _one_time(results[2].out),
        results[3].out.split("Token: ")[1].split()[0],
    ]
    events = initialised("event", "list", "--limit", "1000", "--json").out
    seen = "\n".join([events, *(r.err for r in results)])
    assert "user.password_reset" in events
    assert "$argon2" not in seen
    for secret in secrets:
        assert secret not in seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _first_lines_of_serve(data_dir: Path) -> str:
    """Start `certdesk serve`, read what it prints until it listens, stop it."""
    https = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "certdesk.cli.main", "--data-dir", str(data_dir),
            "serve", "--https-listen", f"127.0.0.1:{https}",
            "--http-listen", f"127.0.0.1:{_free_port()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")},
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline().decode()
            if not line:
                break
            lines.append(line)
            if line.startswith("HTTPS on"):
                break
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, err.decode()
    printed = "".join(lines)
    assert "HTTPS on" in printed, err.decode()
    for secret in ONE_TIME.findall(printed):
        assert secret not in err.decode()
    return printed


def test_serve_makes_the_first_admin_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = _first_lines_of_serve(data_dir)
    assert "user name admin" in first
    assert "/appliance/login" in first
    assert "new password" in first
    one_time = _one_time(first)

    second = _first_lines_of_serve(data_dir)
    assert "One-time password" not in second

    store = setup.open_store(DataDir(data_dir))
    try:
        ctx = Context(store, actor="test")
        assert accounts.log_in(ctx, "admin", one_time).must_change_password
    finally:
        store.close()

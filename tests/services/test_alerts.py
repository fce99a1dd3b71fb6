"""Alert emails against a real SMTP server on loopback (aiosmtpd)."""

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import pytest

from certdesk.errors import InvalidInput
from certdesk.pki.renewal import Alert, AlertKind
from certdesk.services import accounts, alerts, audit, mail
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.services.mail import Security, SmtpSettings
from certdesk.web import settings
from tests.smtptools import HOST, Server, free_port, make_ca, smtp_server

SECRET = "correct horse battery staple 42"
CA_ERROR = (
    "urn:ietf:params:acme:error:unauthorized: Invalid response from"
    " http://www.example.com/.well-known/acme-challenge/abc: 404"
)
ABOUT = alerts.AlertSubject(
    certificate_id=7,
    name="www",
    sans=("www.example.com", "example.com"),
    next_attempt_at=dt.datetime(2026, 8, 2, 12, 20, tzinfo=dt.UTC),
)


def _alert(kind: AlertKind, ctx: Context, days: int = 29) -> Alert:
    not_after = ctx.now() + dt.timedelta(days=days, hours=3)
    return Alert(kind, not_after, days, 1, CA_ERROR if kind != "all-clear" else None)


def _settings(server: Server, **more: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": Security.NONE,
        "from_address": "certdesk@appliance.test",
        "timeout": 5,
    }
    values.update(more)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def _admins(ctx: Context) -> None:
    add = accounts.add_user
    add(ctx, "alice", role=Role.ADMIN, email="alice@example.test", password=SECRET)
    add(ctx, "bob", role=Role.ADMIN, password=SECRET)
    add(ctx, "carol", role=Role.ADMIN, email="carol@example.test", password=SECRET)
    add(ctx, "dave", role=Role.ADMIN, email="dave@example.test", password=SECRET)
    accounts.disable_user(ctx, "dave")
    add(ctx, "erin", role=Role.AUDITOR, email="erin@example.test", password=SECRET)


def test_alerts_reach_enabled_admins_with_an_email_only(
    ctx: Context, tmp_path: Path
) -> None:
    _admins(ctx)
    alert = _alert(AlertKind.RENEWAL_FAILED, ctx)

    with smtp_server(tmp_path) as server:
        done = alerts.deliver(ctx, _settings(server), ABOUT, [alert])

    assert done == [alerts.Delivery(alert, True, 2)]
    got = server.inbox.received
    assert sorted(r.recipients[0] for r in got) == [
        "alice@example.test",
        "carol@example.test",
    ]
    assert all(len(r.recipients) == 1 for r in got)
    first = got[0].message
    assert first["From"] == "certdesk@appliance.test"
    assert first["To"] == got[0].recipients[0]
    assert first["Subject"] == "certdesk: renewing www failed"
    assert first["Date"] and first["Message-ID"]
    body = first.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Certificate: www (id 7)" in body
    assert "Names: www.example.com, example.com" in body
    assert f"Expires: {alert.not_after:%Y-%m-%d %H:%M} UTC (29 days left)" in body
    assert CA_ERROR in body
    assert "Next renewal attempt: 2026-08-02 12:20 UTC" in body
    assert "certdesk acme renew 7" in body


def test_each_alert_is_an_event_and_the_alert_log(ctx: Context, tmp_path: Path) -> None:
    _admins(ctx)
    kinds = [AlertKind.RENEWAL_FAILED, AlertKind.EXPIRY_ERROR]

    with smtp_server(tmp_path) as server:
        alerts.deliver(ctx, _settings(server), ABOUT, [_alert(k, ctx) for k in kinds])

    trail = audit.list_events(ctx, action="alert.")
    assert [(e["action"], e["details"]["kind"]) for e in reversed(trail)] == [
        ("alert.sent", "renewal-failed"),
        ("alert.sent", "expiry-error"),
    ]
    assert (trail[0]["object_type"], trail[0]["object_id"]) == ("certificate", "7")
    assert trail[0]["object_name"] == "www"
    assert trail[0]["details"]["recipients"] == 2
    assert "example.test" not in str(trail)
    since = ctx.now() - dt.timedelta(days=1)
    log = alerts.sent_alerts(ctx, [7, 3], since)
    assert [(a.kind, a.at) for a in log] == [(k, ctx.now()) for k in kinds]
    assert alerts.sent_alerts(ctx, [8], since) == []


def test_a_failed_send_is_recorded_and_stays_due(ctx: Context, tmp_path: Path) -> None:
    _admins(ctx)
    closed = SmtpSettings(HOST, "certdesk@appliance.test", port=free_port(), timeout=2)
    alert = _alert(AlertKind.EXPIRY_ERROR, ctx, days=20)

    [done] = alerts.deliver(ctx, closed, ABOUT, [alert])

    assert not done.sent
    assert done.error is not None and "cannot connect to the SMTP server" in done.error
    [event] = audit.list_events(ctx, action="alert.")
    assert event["action"] == "alert.failed"
    assert event["details"]["kind"] == "expiry-error"
    assert alerts.sent_alerts(ctx, [7], ctx.now() - dt.timedelta(days=1)) == []


def test_no_smtp_or_no_address_is_a_failure_that_says_what_to_do(
    ctx: Context, tmp_path: Path
) -> None:
    alert = _alert(AlertKind.RENEWAL_FAILED, ctx)

    [unconfigured] = alerts.deliver(ctx, None, ABOUT, [alert])
    with smtp_server(tmp_path) as server:
        [nobody] = alerts.deliver(ctx, _settings(server), ABOUT, [alert])

    assert unconfigured.error is not None and "[smtp] host" in unconfigured.error
    assert nobody.error is not None and "set-email" in nobody.error
    assert server.inbox.received == []


def test_a_refused_address_does_not_stop_the_others(
    ctx: Context, tmp_path: Path
) -> None:
    add = accounts.add_user
    add(ctx, "alice", role=Role.ADMIN, email="alice@example.test", password=SECRET)
    add(ctx, "zed", role=Role.ADMIN, email="refused@example.test", password=SECRET)

    with smtp_server(tmp_path) as server:
        [done] = alerts.deliver(
            ctx, _settings(server), ABOUT, [_alert(AlertKind.RENEWAL_FAILED, ctx)]
        )

    assert done.sent and done.recipients == 1
    assert done.error is not None and "refused refused@example.test (550" in done.error
    assert [r.recipients for r in server.inbox.received] == [["alice@example.test"]]


def test_expiry_and_all_clear_messages(ctx: Context) -> None:
    now = ctx.now()
    expired = Alert(AlertKind.EXPIRY_ERROR, now - dt.timedelta(hours=2), -1, 40, "x")
    error_subject, error_body = alerts.compose(
        _alert(AlertKind.EXPIRY_ERROR, ctx, days=24), ABOUT, now
    )
    expired_subject, _ = alerts.compose(expired, ABOUT, now)
    clear_subject, clear_body = alerts.compose(
        _alert(AlertKind.ALL_CLEAR, ctx, days=89), ABOUT, now
    )

    assert error_subject == "certdesk: www expires in 24 days, not renewed"
    assert "once a day until the certificate is renewed or removed" in error_body
    assert CA_ERROR in error_body
    assert expired_subject == "certdesk: www has EXPIRED and is not renewed"
    assert clear_subject == "certdesk: www renewed, all clear"
    assert "Nothing to do." in clear_body
    assert "Next renewal attempt" not in clear_body
    assert "The CA said" not in clear_body


# -- the SMTP client on its own ------------------------------------------------


def test_starttls_with_the_trusted_ca(tmp_path: Path) -> None:
    with smtp_server(tmp_path, tls="starttls") as server:
        smtp = _settings(
            server, security=Security.STARTTLS, ca_file=str(server.ca_file)
        )
        mail.send_test(smtp, "alice@example.test")

    [got] = server.inbox.received
    assert got.message["Subject"] == "certdesk: test message"
    assert got.recipients == ["alice@example.test"]


def test_starttls_refuses_an_untrusted_certificate(tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(make_ca("some other CA").ca_pem)
    (tmp_path / "server").mkdir()

    with smtp_server(tmp_path / "server", tls="starttls") as server:
        smtp = _settings(server, security=Security.STARTTLS, ca_file=str(other))
        with pytest.raises(mail.MailTlsFailed) as caught:
            mail.send_test(smtp, "alice@example.test")

    message = str(caught.value)
    assert f"{HOST}:{server.port} presented a certificate that is not trusted" in (
        message
    )
    assert "ca_file" in message
    assert server.inbox.received == []


def test_implicit_tls(tmp_path: Path) -> None:
    with smtp_server(tmp_path, tls="implicit") as server:
        smtp = _settings(server, security=Security.TLS, ca_file=str(server.ca_file))
        mail.send_test(smtp, "alice@example.test")

    assert len(server.inbox.received) == 1


def test_login_and_a_refused_login_keep_the_password_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = ("certdesk", SECRET)

    with smtp_server(tmp_path, tls="starttls", auth=auth) as server:
        good = _settings(
            server,
            security=Security.STARTTLS,
            ca_file=str(server.ca_file),
            username="certdesk",
            password=SECRET,
        )
        mail.send_test(good, "alice@example.test")
        bad = dataclasses.replace(good, password="wrong " + SECRET)
        with pytest.raises(mail.MailAuthRefused) as caught:
            mail.send_test(bad, "alice@example.test")

    assert len(server.inbox.received) == 1
    assert "refused the login of 'certdesk' (535)" in str(caught.value)
    assert "password_file" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(good)
    assert caplog.records, "the test expects some log lines to look at"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(vars(record))


def test_login_offered_only_over_tls_is_explained(tmp_path: Path) -> None:
    with smtp_server(tmp_path, auth=("certdesk", SECRET)) as server:
        smtp = _settings(server, username="certdesk", password=SECRET)
        with pytest.raises(mail.MailAuthRefused, match="offers no login"):
            mail.send_test(smtp, "alice@example.test")


def test_a_closed_port_is_a_connection_error() -> None:
    smtp = SmtpSettings(HOST, "certdesk@appliance.test", port=free_port(), timeout=2)
    with pytest.raises(mail.MailConnectionFailed, match="check \\[smtp\\] host"):
        mail.send_test(smtp, "alice@example.test")


def test_a_refused_recipient_is_named(tmp_path: Path) -> None:
    refused = pytest.raises(mail.MailRecipientRefused, match=r"refused@example\.test")
    with smtp_server(tmp_path) as server, refused:
        mail.send_test(_settings(server), "refused@example.test")


def test_no_encryption_only_to_loopback() -> None:
    with pytest.raises(InvalidInput, match="only allowed to a loopback relay"):
        SmtpSettings("mail.example.com", "a@b.test", security=Security.NONE)
    assert SmtpSettings("::1", "a@b.test", security=Security.NONE).port == 587


# -- [smtp] in certdesk.toml ---------------------------------------------------


def _toml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "certdesk.toml").write_text(text)
    return tmp_path


def test_smtp_settings_from_the_file_with_the_password_from_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "smtp-password").write_text(SECRET + "\n")
    data = _toml(
        tmp_path,
        '[smtp]\nhost = "mail.example.com"\nusername = "certdesk"\n'
        'password_file = "smtp-password"\nfrom_address = "certdesk@example.com"\n'
        "timeout = 12\nverify = true\n",
    )

    loaded = settings.load_smtp(data)

    assert loaded == SmtpSettings(
        "mail.example.com",
        "certdesk@example.com",
        port=587,
        security=Security.STARTTLS,
        username="certdesk",
        password=SECRET,
        timeout=12,
    )
    assert SECRET not in repr(loaded)


def test_smtp_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _toml(
        tmp_path, '[smtp]\nhost = "mail.example.com"\nfrom_address = "a@b.c"\n'
    )
    monkeypatch.setenv("CERTDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CERTDESK_SMTP_SECURITY", "none")
    monkeypatch.setenv("CERTDESK_SMTP_FROM_ADDRESS", "alerts@example.com")

    loaded = settings.load_smtp(data)

    assert loaded is not None
    assert (loaded.host, loaded.port, loaded.security) == ("127.0.0.1", 25, "none")
    assert loaded.from_address == "alerts@example.com"


@pytest.mark.parametrize(
    ("table", "field", "says"),
    [
        (
            'host = "h"\nfrom_address = "a@b.c"\npassword = "hunter2-pw"',
            "smtp.password",
            "file",
        ),
        (
            'host = "h"\nfrom_address = "a@b.c"\nsecurity = "ssl"',
            "smtp.security",
            "ssl",
        ),
        ('host = "h"\nfrom_address = "a@b.c"\nsecurity = "none"', "smtp.security", "h"),
        ('host = "h"\nfrom_address = "a@b.c"\nport = 0', "smtp.port", "1 to 65535"),
        ('host = "h"', "smtp.from_address", "certdesk@example.com"),
        (
            'host = "h"\nfrom_address = "a@b.c"\nusername = "u"',
            "smtp.password_file",
            "",
        ),
        (
            'host = "h"\nfrom_address = "a@b.c"\nusername = "u"\npassword_file = "no"',
            "smtp.password_file",
            "cannot read",
        ),
    ],
)
def test_smtp_settings_refused(
    tmp_path: Path, table: str, field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        settings.load_smtp(_toml(tmp_path, f"[smtp]\n{table}\n"))
    assert caught.value.field == field
    assert says in caught.value.reason
    assert "hunter2-pw" not in str(caught.value)


def test_no_smtp_host_means_no_mail(tmp_path: Path) -> None:
    assert settings.load_smtp(tmp_path) is None

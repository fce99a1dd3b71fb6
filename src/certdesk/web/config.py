"""What the web interface needs at run time, settled once when `serve` starts.

Read from `[web]` in `certdesk.toml` (and the environment) by
`settings.load_web`; the defaults suit an appliance on a trusted network.
"""

from dataclasses import dataclass, field

from certdesk.services.context import Context
from certdesk.services.mail import SmtpSettings
from certdesk.services.sessions import SessionPolicy

DEFAULT_MAX_UPLOAD = 4 * 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    ctx: Context
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    started_at: float = 0.0
    node: str = ""
    # [smtp] from certdesk.toml; a relay set on Settings > Email wins over it.
    smtp_file: SmtpSettings | None = None

"""certdesk: a self-hosted TLS certificate appliance."""

__version__ = "0.1.0"

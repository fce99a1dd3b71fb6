"""ACME: accounts, orders with HTTP-01, renewal now, revocation (DESIGN.md item 7)."""

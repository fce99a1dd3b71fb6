"""Persistence: the database, its migrations, and the sealing of private keys.

The contract callers rely on is in `database.py` (transactions, not-found
errors, WAL, migrations on open); sealing is described in `sealing.py`. Nothing
here knows about HTTP, the CLI or the use cases that call it.
"""

"""The TLS front end: contexts per certificate, chosen per handshake by SNI.

It knows nothing of the database: it is handed a snapshot of the served set
and a way to load one certificate's chain and key, and told when the set
changes.
"""

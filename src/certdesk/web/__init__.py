"""Interfaces over HTTP: the site behind the TLS front end and the HTTP listener.

The `/appliance` pages and the `/api` are not built yet; those paths answer
404 until they are.
"""

"""Pure certificate logic: keys, names, requests, formats, chains, inspection.

See README.md in this folder for the rule that keeps it free of I/O.
"""

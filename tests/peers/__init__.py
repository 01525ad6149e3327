"""Real network peers on 127.0.0.1 for tests: an SMTP sink, a Dovecot IMAP server, a test PKI.

Every peer binds the loopback address only and never contacts an outside host.
"""

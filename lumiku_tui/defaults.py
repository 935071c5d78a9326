"""Deploy defaults, kept free of heavy imports so `--help` starts fast."""

#: A DDL statement queued behind a long transaction blocks every later query on the table;
#: failing fast and retrying is kinder to a live database than waiting.
DEFAULT_LOCK_TIMEOUT_S = 5.0
#: Bounds how long one statement may hold its locks.
DEFAULT_STATEMENT_TIMEOUT_S = 600.0
#: How long Prisma waits for its advisory lock before giving up.
PRISMA_LOCK_WAIT_S = 10.0
#: A deploy session that sits in an open transaction this long is ended by the server, so a
#: client that vanished (killed, network gone) does not keep Prisma's lock and table locks.
IDLE_IN_TRANSACTION_TIMEOUT_S = 2.0
#: How often the server checks that the client of a running statement is still there (PG 14+).
CLIENT_CHECK_INTERVAL_S = 1.0
#: No reply from the server for this long beyond the statement timeout means the network is gone.
REPLY_GRACE_S = 5.0
#: The longest wait for any reply from the server outside a migration's own statements
#: (those are bounded by the statement timeout plus REPLY_GRACE_S, or Prisma's socket_timeout).
REPLY_DEADLINE_S = 30.0
#: A deploy session idle outside a transaction (between migrations, holding Prisma's lock) this
#: long is ended by the server (PostgreSQL 14+): long enough for planning a very large history.
IDLE_SESSION_TIMEOUT_S = 60.0
#: The server gives up a connection whose sent data stays unacknowledged this long.
TCP_USER_TIMEOUT_S = 30.0
#: TCP keepalives so a silent network is noticed by the operating system too.
KEEPALIVES = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5", "keepalives_count": "3"}
#: How long reading or creating the history table may wait for another session's lock.
HISTORY_LOCK_TIMEOUT_S = 5.0

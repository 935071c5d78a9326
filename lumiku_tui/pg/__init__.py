"""PostgreSQL's side: the target URL, connecting, server information, locks and sessions, names."""

"""Migration scripts as PostgreSQL reads them: statements and the plan of a migration."""

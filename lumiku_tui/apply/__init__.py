"""Running migrations: deploy and rehearse on one executor, and the events they emit."""

"""SQLAlchemy tables, sessions and migrations: the database is the sync's source of truth."""

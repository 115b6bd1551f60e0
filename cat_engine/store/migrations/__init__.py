"""Alembic migrations of the site database (run by cat_engine.store.migrate)."""

"""Alembic migrations of the hotline schema (a package so it ships in the wheel)."""

"""Django for a benchmark child process: its own scratch directory, and a fresh PostgreSQL database when asked.

Called before anything imports Django models, since settings are read from the environment once.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import psycopg

# The local server trusts user postgres on loopback (as CI's does); BENCH_POSTGRES_URL points elsewhere.
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def fresh_postgres_database(name: str) -> str:
    """Drop and create database `name`; return its DATABASE_URL."""
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_URL}/{name}"


def setup_django(database: str | None = None, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """Point settings at a scratch var dir (and database `database`, freshly created and migrated), start Django.

    Returns the environment a server or worker process for this benchmark needs to see the same settings.
    """
    var_dir = Path(tempfile.mkdtemp(prefix="onramp-bench-"))
    atexit.register(shutil.rmtree, var_dir, ignore_errors=True)  # the child process owns it; its servers are gone
    os.environ["ONRAMP_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.pop("REDIS_URL", None)  # the embedded broker and an in-process rate limit unless a benchmark says
    if database is not None:
        os.environ["DATABASE_URL"] = fresh_postgres_database(database)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(extra_env or {})

    import django
    from django.core.management import call_command

    django.setup()
    if database is not None:
        call_command("migrate", verbosity=0, interactive=False)
    return dict(os.environ)

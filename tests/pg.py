"""Test databases on a real PostgreSQL server: one fresh database per test, dropped afterwards.

The server comes from TEST_POSTGRES_URL (``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres``);
``.ci/run`` starts one with scripts/pg-start and exports it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

ENV = "TEST_POSTGRES_URL"
REQUIRE_ENV = "TEST_REQUIRE_POSTGRES"  # set by .ci/run: skipping is not allowed there
SKIP_REASON = "PostgreSQL not available: set TEST_POSTGRES_URL or run .ci/run"


def server_url() -> str | None:
    """The PostgreSQL server the tests may use, or None."""
    return os.environ.get(ENV) or None


def required() -> bool:
    """Whether PostgreSQL tests must run (CI) rather than skip."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _dsn(url: str) -> str:
    # asyncpg speaks libpq URLs, not SQLAlchemy's "postgresql+asyncpg".
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server: str, prefix: str = "test") -> str:
    """Create an empty database on the server; returns its SQLAlchemy URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop a database made by create_database, even if a connection was left open."""
    target = make_url(url)
    admin = target.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(_dsn(admin))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database on the test server, dropped afterwards; skips (or fails in CI) without a server."""
    server = server_url()
    if server is None:
        if required():
            pytest.fail(f"{REQUIRE_ENV} is set but TEST_POSTGRES_URL is not")
        pytest.skip(SKIP_REASON)
    url = await create_database(server)
    try:
        yield url
    finally:
        await drop_database(url)

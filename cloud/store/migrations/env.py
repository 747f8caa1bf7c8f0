"""Alembic environment: the URL comes from ``cloud.store.db.migrate`` (never from a file)."""

from __future__ import annotations

from alembic import context

from cloud.store.db import make_engine
from cloud.store.models import Base

config = context.config
url: str = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or ""
if not url:
    raise RuntimeError("no database URL given to the migrations")


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)  # disposed below: migrations leave no pooled connection behind
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()

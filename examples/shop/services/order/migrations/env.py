"""Alembic environment: the database is the one `calls: [ordersDb]` injects (ORDERS_DB_URL)."""
import os

from alembic import context
from sqlalchemy import create_engine

# SQLAlchemy names the driver in the scheme: psycopg 3.
url = os.environ["ORDERS_DB_URL"].replace("postgresql://", "postgresql+psycopg://", 1)

with create_engine(url).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()

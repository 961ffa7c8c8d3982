"""order-service: keeps orders in Postgres (ORDERS_DB_URL), calls user-service (USER_SERVICE_URL) and
queues an order confirmation for the Celery worker through Redis (QUEUE_URL, tasks.py).

pyfleet injects both: `calls: [users, ordersDb]` gives ORDERS_DB_URL (postgresql://user:password@host:5432/db,
the password from the store's Secret) and USER_SERVICE_URL, right for the target at hand. Without
ORDERS_DB_URL (a run without the database) the orders live in memory.
"""
import os

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI(title="order-service")

USER_SERVICE_URL = os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001")
ORDERS_DB_URL = os.environ.get("ORDERS_DB_URL")
SEED = {"id": 10, "user_id": 1, "item": "analytical engine"}
MEMORY = {10: dict(SEED)}
_schema_ready = False


class NewOrder(BaseModel):
    user_id: int
    item: str


def _connect():
    import psycopg  # only needed with a database

    global _schema_ready
    conn = psycopg.connect(ORDERS_DB_URL, autocommit=True, connect_timeout=5)
    if _schema_ready:
        return conn
    # Every worker may be the first: the schema is made under an advisory lock.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7041)")
        # The Alembic migration (migrations/versions/0001_orders.py) makes the same table before a release
        # serves; this keeps a run without it (no migration, e.g. `uvicorn app:app`) working.
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL, item TEXT NOT NULL, confirmed BOOLEAN NOT NULL DEFAULT FALSE)")
        conn.execute("INSERT INTO orders (id, user_id, item) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING", (SEED["id"], SEED["user_id"], SEED["item"]))
        conn.execute("SELECT setval('orders_id_seq', GREATEST((SELECT MAX(id) FROM orders), 10))")
    _schema_ready = True
    return conn


def load_order(order_id: int):
    if not ORDERS_DB_URL:
        return MEMORY.get(order_id)
    with _connect() as conn:
        row = conn.execute("SELECT id, user_id, item FROM orders WHERE id = %s", (order_id,)).fetchone()
    return None if row is None else {"id": row[0], "user_id": row[1], "item": row[2]}


def save_order(order: NewOrder) -> dict:
    if not ORDERS_DB_URL:
        new = {"id": max(MEMORY) + 1, "user_id": order.user_id, "item": order.item}
        MEMORY[new["id"]] = new
        return new
    with _connect() as conn:
        row = conn.execute("INSERT INTO orders (user_id, item) VALUES (%s, %s) RETURNING id", (order.user_id, order.item)).fetchone()
    return {"id": row[0], "user_id": order.user_id, "item": order.item}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


def queue_confirmation(order_id: int) -> None:
    """Queues the order-confirmation task for the Celery worker (only when a queue is configured)."""
    if not os.environ.get("QUEUE_URL"):
        return
    from tasks import confirm_order  # celery is only needed with a queue

    # No retries: a request does not hang on a broker that is down (the order is saved either way).
    confirm_order.apply_async((order_id,), retry=False)


@app.post("/orders", status_code=201)
def create_order(order: NewOrder) -> dict:
    saved = save_order(order)
    queue_confirmation(saved["id"])
    return saved


@app.get("/orders/{order_id}/confirmation")
def get_confirmation(order_id: int) -> dict:
    if not ORDERS_DB_URL:
        raise HTTPException(status_code=404, detail="confirmations need the database")
    with _connect() as conn:
        row = conn.execute("SELECT confirmed FROM orders WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail="no such order")
    return {"id": order_id, "confirmed": row[0]}


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict:
    order = load_order(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    async with httpx.AsyncClient(base_url=USER_SERVICE_URL, timeout=5.0) as client:
        response = await client.get(f"/users/{order['user_id']}")
    if response.status_code != 200:
        raise HTTPException(status_code=502, detail="user-service failed")
    return {**order, "user": response.json()}

"""The order service's Celery app: the worker (`celery -A tasks:celery worker`, a CeleryWorker) confirms orders.

The broker is the Redis queue: the worker gets CELERY_BROKER_URL (which Celery reads itself) from
`calls: [queue]`, the web app uses QUEUE_URL, which the same call injects into it.
"""
import os

from celery import Celery

celery = Celery("tasks", broker=os.environ.get("CELERY_BROKER_URL") or os.environ.get("QUEUE_URL"))
celery.conf.update(
    broker_connection_retry_on_startup=True,
    task_acks_late=True,  # a task cut off by a crash is redelivered; a warm shutdown lets it finish first
    worker_prefetch_multiplier=1,
)


@celery.task(name="orders.confirm")
def confirm_order(order_id: int) -> bool:
    import psycopg

    with psycopg.connect(os.environ["ORDERS_DB_URL"], autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("UPDATE orders SET confirmed = TRUE WHERE id = %s RETURNING id", (order_id,)).fetchone()
    return row is not None

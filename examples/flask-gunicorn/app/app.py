"""catalog: a Flask service under gunicorn; most of a request's time is spent waiting on a backend."""
import os
import time

from flask import Flask, abort, jsonify

app = Flask(__name__)

# Stands in for a database or another service: the worker waits, the CPU is free for other requests.
BACKEND_LATENCY = float(os.environ.get("BACKEND_LATENCY_MS", "10")) / 1000
ITEMS = {i: {"id": i, "name": f"item {i}", "price_cents": 100 + i} for i in range(1, 101)}


@app.get("/")
def index():
    return "catalog\n"


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/items/<int:item_id>")
def item(item_id: int):
    time.sleep(BACKEND_LATENCY)
    found = ITEMS.get(item_id)
    if found is None:
        abort(404)
    return jsonify(found)


@app.get("/slow")
def slow():
    """A request that takes a while: used to check that a shutdown lets in-flight requests finish."""
    time.sleep(float(os.environ.get("SLOW_SECONDS", "1.5")))
    return {"status": "done"}

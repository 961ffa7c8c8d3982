"""order-service: calls user-service through the URL pyfleet injects (USER_SERVICE_URL)."""
import os

import httpx
from fastapi import FastAPI, HTTPException

app = FastAPI(title="order-service")

USER_SERVICE_URL = os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001")
ORDERS = {10: {"id": 10, "user_id": 1, "item": "analytical engine"}}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict:
    order = ORDERS.get(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    async with httpx.AsyncClient(base_url=USER_SERVICE_URL, timeout=5.0) as client:
        response = await client.get(f"/users/{order['user_id']}")
    if response.status_code != 200:
        raise HTTPException(status_code=502, detail="user-service failed")
    return {**order, "user": response.json()}

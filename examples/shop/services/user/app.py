"""user-service: a tiny FastAPI service that owns users."""
from fastapi import FastAPI, HTTPException

app = FastAPI(title="user-service")

USERS = {
    1: {"id": 1, "name": "Ada Lovelace"},
    2: {"id": 2, "name": "Grace Hopper"},
}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/users/{user_id}")
def get_user(user_id: int) -> dict:
    user = USERS.get(user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="no such user")
    return user

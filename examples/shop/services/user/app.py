"""user-service: owns users, and answers lookups from Redis (CACHE_URL) when it can.

pyfleet injects CACHE_URL (redis://:password@host:6379/0) through `calls: [cache]`. The cache is an
optimisation: when Redis is missing or down, lookups are answered from the source. The `x-cache`
header says which (`hit`, `miss` or `off`).
"""
import json
import os

from fastapi import FastAPI, HTTPException, Response

app = FastAPI(title="user-service")

USERS = {
    1: {"id": 1, "name": "Ada Lovelace"},
    2: {"id": 2, "name": "Grace Hopper"},
}
CACHE_URL = os.environ.get("CACHE_URL")
TTL_SECONDS = 60
_cache = None


def cache():
    global _cache
    if CACHE_URL and _cache is None:
        import redis  # only needed with a cache

        _cache = redis.Redis.from_url(CACHE_URL, socket_timeout=1, socket_connect_timeout=1)
    return _cache


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/users/{user_id}")
def get_user(user_id: int, response: Response) -> dict:
    key = f"user:{user_id}"
    r = cache()
    if r is not None:
        try:
            hit = r.get(key)
            if hit is not None:
                response.headers["x-cache"] = "hit"
                return json.loads(hit)
        except Exception:  # a cache that is down is a miss
            r = None
    user = USERS.get(user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="no such user")
    response.headers["x-cache"] = "off" if r is None else "miss"
    if r is not None:
        try:
            r.set(key, json.dumps(user), ex=TTL_SECONDS)
        except Exception:
            pass
    return user

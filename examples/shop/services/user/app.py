"""user-service: owns users, and answers lookups from Redis (CACHE_URL) when it can.

pyfleet injects CACHE_URL (redis://:password@host:6379/0) through `calls: [cache]`. The cache is an
optimisation: when Redis is missing or down, lookups are answered from the source. The `x-cache`
header says which (`hit`, `miss` or `off`).

The few commands it needs (AUTH, SELECT, GET, SET EX) are spoken directly in RESP, Redis' protocol:
redis-py 8 requires async-timeout on Python before 3.11.3 (Debian bookworm's, the image's, is 3.11.2),
and the package index this example builds from has no async-timeout.
"""
import json
import os
import socket
from urllib.parse import unquote, urlparse

from fastapi import FastAPI, HTTPException, Response

app = FastAPI(title="user-service")

USERS = {
    1: {"id": 1, "name": "Ada Lovelace"},
    2: {"id": 2, "name": "Grace Hopper"},
}
CACHE_URL = os.environ.get("CACHE_URL")
TTL_SECONDS = 60


class RedisError(Exception):
    pass


def _command(conn: socket.socket, *args: str) -> object:
    """Sends one command and reads its reply (simple string, error, integer or bulk string)."""
    out = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
    conn.sendall(out)
    f = conn.makefile("rb")
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    raise RedisError(f"unexpected reply {line!r}")


def _connect() -> socket.socket:
    url = urlparse(CACHE_URL)
    conn = socket.create_connection((url.hostname, url.port or 6379), timeout=1)
    if url.password:
        _command(conn, "AUTH", unquote(url.password))
    db = (url.path or "/0").lstrip("/") or "0"
    if db != "0":
        _command(conn, "SELECT", db)
    return conn


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/users/{user_id}")
def get_user(user_id: int, response: Response) -> dict:
    key = f"user:{user_id}"
    conn = None
    if CACHE_URL:
        try:
            conn = _connect()
            hit = _command(conn, "GET", key)
            if hit is not None:
                conn.close()
                response.headers["x-cache"] = "hit"
                return json.loads(hit)
        except (OSError, RedisError):  # a cache that is down is a miss
            conn = None
    user = USERS.get(user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="no such user")
    response.headers["x-cache"] = "off" if conn is None else "miss"
    if conn is not None:
        try:
            _command(conn, "SET", key, json.dumps(user), "EX", str(TTL_SECONDS))
        except (OSError, RedisError):
            pass
        finally:
            conn.close()
    return user

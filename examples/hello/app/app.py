"""hello: the smallest Flask service."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, world!\n"


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}

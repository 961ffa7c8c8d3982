"""web: the public front end; asks the quotes service (QUOTES_URL is injected by pyfleet)."""
import json
import os
import urllib.request

from flask import Flask, jsonify

app = Flask(__name__)
QUOTES_URL = os.environ.get("QUOTES_URL", "http://127.0.0.1:8002")


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/")
def index():
    with urllib.request.urlopen(f"{QUOTES_URL}/quote", timeout=2) as resp:
        quote = json.load(resp)["quote"]
    return jsonify(message="hello from pyfleet", quote=quote)

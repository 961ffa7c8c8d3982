"""quotes: serves a quote of the day."""
import datetime

from flask import Flask, jsonify

app = Flask(__name__)

QUOTES = [
    "Simple is better than complex.",
    "Readability counts.",
    "Errors should never pass silently.",
]


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/quote")
def quote():
    return jsonify(quote=QUOTES[datetime.date.today().toordinal() % len(QUOTES)])

"""The yardstick: a bare Flask JSON endpoint, served under the same gunicorn settings as the service."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare():
    return jsonify({"status": "ok", "granted": ["necessary"]})

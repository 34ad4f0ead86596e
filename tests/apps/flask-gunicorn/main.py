"""A Flask app served by gunicorn, as in the vendors' Cloud Run samples: untouched by aideploy."""

import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/health")
def health():
    return jsonify(status="ok")


@app.route("/")
def hello():
    name = os.environ.get("NAME", "World")
    return f"Hello {name}!"

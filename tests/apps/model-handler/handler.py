"""Loads the model file once and scores texts with it."""

import json
import math
from pathlib import Path

MODEL_PATH = Path(__file__).parent / "model" / "sentiment.json"


class Model:
    def __init__(self, path: Path = MODEL_PATH):
        spec = json.loads(path.read_text())
        self.name = spec["name"]
        self.bias = spec["bias"]
        self.weights = spec["weights"]

    def predict(self, text: str) -> dict:
        z = self.bias + sum(self.weights.get(w.strip(".,!?").lower(), 0.0) for w in text.split())
        p = 1 / (1 + math.exp(-z))
        return {"label": "positive" if p >= 0.5 else "negative", "score": round(p, 4)}

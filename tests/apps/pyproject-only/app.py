"""Bag-of-words "embeddings": a stand-in for an embedding service."""

import hashlib

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="embed-api")
DIM = 16


class Texts(BaseModel):
    texts: list[str]


def embed(text: str) -> list[float]:
    vec = [0.0] * DIM
    for word in text.lower().split():
        vec[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return vec


@app.get("/healthz")
def healthz():
    return {"status": "ok", "dim": DIM}


@app.post("/embed")
def embed_all(body: Texts):
    return {"vectors": [embed(t) for t in body.texts]}

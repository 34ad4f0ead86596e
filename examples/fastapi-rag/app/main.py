"""A retrieval-augmented question-answering API.

Without an OPENAI_API_KEY it answers from the best-matching bundled passages; with one
(a secret in aideploy.toml, never a plain setting) it asks the model to compose the
answer from those passages.
"""

import json
import os
import urllib.request

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from .docs import DOCUMENTS
from .retrieval import Index

app = FastAPI(title="fastapi-rag", version="1.0.0")
index = Index(DOCUMENTS)


class Query(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(default=2, ge=1, le=5)


class Source(BaseModel):
    id: str
    title: str
    score: float


class Answer(BaseModel):
    answer: str
    sources: list[Source]
    mode: str


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/health/ready")
def ready() -> dict:
    return {"status": "ready", "documents": len(DOCUMENTS), "llm": bool(os.environ.get("OPENAI_API_KEY"))}


def ask_llm(question: str, passages: list[dict], key: str) -> str:
    context = "\n\n".join(f"[{p['id']}] {p['text']}" for p in passages)
    body = {
        "model": os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        "messages": [
            {"role": "system", "content": "Answer only from the given passages and cite their ids."},
            {"role": "user", "content": f"Passages:\n{context}\n\nQuestion: {question}"},
        ],
    }
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    req = urllib.request.Request(
        f"{base}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["choices"][0]["message"]["content"]


@app.post("/query", response_model=Answer)
def query(q: Query) -> Answer:
    hits = index.search(q.question, k=q.top_k)
    if not hits:
        return Answer(answer="No passage in the document set matches the question.", sources=[], mode="retrieval")
    passages = [doc for _, doc in hits]
    sources = [Source(id=d["id"], title=d["title"], score=round(s, 3)) for s, d in hits]
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        try:
            return Answer(answer=ask_llm(q.question, passages, key), sources=sources, mode="llm")
        except Exception as e:  # the model is optional: say so and fall back
            raise HTTPException(status_code=502, detail=f"the LLM call failed: {e}") from e
    return Answer(answer=" ".join(p["text"] for p in passages), sources=sources, mode="retrieval")

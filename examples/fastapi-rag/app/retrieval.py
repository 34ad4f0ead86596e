"""A small BM25 retriever over the bundled documents: no model, no network."""

import math
import re
from collections import Counter

TOKEN = re.compile(r"[a-z0-9]+")
STOP = {"a", "an", "the", "is", "are", "of", "to", "and", "or", "in", "on", "it", "what", "how", "does", "do", "i", "my", "for", "from", "with", "by", "when", "which"}


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOP]


class Index:
    def __init__(self, documents: list[dict], k1: float = 1.5, b: float = 0.75):
        self.documents = documents
        self.k1, self.b = k1, b
        self.terms = [Counter(tokenize(d["title"] + " " + d["text"])) for d in documents]
        self.lengths = [sum(t.values()) for t in self.terms]
        self.avg = sum(self.lengths) / max(len(self.lengths), 1)
        df = Counter(term for t in self.terms for term in t)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def search(self, query: str, k: int = 3) -> list[tuple[float, dict]]:
        q = tokenize(query)
        scored = []
        for doc, terms, length in zip(self.documents, self.terms, self.lengths):
            score = 0.0
            for term in q:
                f = terms.get(term, 0)
                if f:
                    norm = f + self.k1 * (1 - self.b + self.b * length / self.avg)
                    score += self.idf[term] * f * (self.k1 + 1) / norm
            if score > 0:
                scored.append((score, doc))
        scored.sort(key=lambda s: -s[0])
        return scored[:k]

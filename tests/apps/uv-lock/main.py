from fastapi import FastAPI

app = FastAPI()

QUEUES = {
    "billing": ["invoice", "refund", "charge", "payment"],
    "outage": ["down", "error", "timeout", "500"],
}


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/route")
def route(text: str):
    words = text.lower().split()
    for queue, keys in QUEUES.items():
        if any(k in words for k in keys):
            return {"queue": queue}
    return {"queue": "general"}

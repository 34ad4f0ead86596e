from fastapi import FastAPI

from ragsvc.answers import reply

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok", "from": reply("ping")["answer"]}

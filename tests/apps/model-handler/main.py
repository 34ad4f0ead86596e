from fastapi import FastAPI
from pydantic import BaseModel

from handler import Model

model = Model()
app = FastAPI(title="sentiment")


class Request(BaseModel):
    text: str


@app.get("/health")
def health():
    return {"status": "ok", "model": model.name}


@app.post("/predict")
def predict(req: Request):
    return model.predict(req.text)

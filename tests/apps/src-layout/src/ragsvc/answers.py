def reply(question: str) -> dict:
    return {"question": question, "answer": "see the docs"}

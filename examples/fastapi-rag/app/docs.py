"""The small document set the API answers from when no LLM key is configured."""

DOCUMENTS = [
    {
        "id": "aideploy-overview",
        "title": "What aideploy does",
        "text": (
            "aideploy deploys an AI application from one manifest, aideploy.toml, to the "
            "cloud a team picked: AWS Lambda, Google Cloud Run, Azure App Service, an EC2 "
            "GPU instance, a SageMaker endpoint, Railway, Render, or this machine."
        ),
    },
    {
        "id": "health-gates",
        "title": "Health-gated deploys",
        "text": (
            "A new version takes traffic only after its health path answers. When the new "
            "version fails, the previous version keeps serving and the exit code is 3."
        ),
    },
    {
        "id": "secrets",
        "title": "Secrets",
        "text": (
            "Secret values such as an OpenAI API key are read at deploy time from the local "
            "environment or a .env file and stored in the target's secret store. The "
            "manifest and the function configuration hold only names or references."
        ),
    },
    {
        "id": "local-target",
        "title": "The local target",
        "text": (
            "aideploy up --target local installs the requirements into a cached virtual "
            "environment, starts the server in the background behind a stable port, waits "
            "until the health path answers and prints the URL. aideploy destroy stops it."
        ),
    },
    {
        "id": "rag",
        "title": "Retrieval-augmented generation",
        "text": (
            "Retrieval-augmented generation answers a question by first retrieving the "
            "passages most related to it and then composing an answer from those passages, "
            "so the answer cites the documents it came from."
        ),
    },
]

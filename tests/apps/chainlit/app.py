"""A Chainlit chat that answers from a small FAQ."""

import chainlit as cl

FAQ = {
    "hours": "We answer tickets from 8:00 to 18:00 UTC.",
    "refund": "Refunds take five working days.",
}


@cl.on_chat_start
async def start():
    await cl.Message(content="Ask me about hours or refunds.").send()


@cl.on_message
async def on_message(message: cl.Message):
    for key, answer in FAQ.items():
        if key in message.content.lower():
            await cl.Message(content=answer).send()
            return
    await cl.Message(content="I do not know that one yet.").send()

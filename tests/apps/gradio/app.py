"""A Gradio demo: counts the words and characters of a text."""

import gradio as gr


def count(text: str) -> dict:
    return {"words": len(text.split()), "characters": len(text)}


demo = gr.Interface(
    fn=count,
    inputs=gr.Textbox(label="Text", lines=4),
    outputs=gr.JSON(label="Counts"),
    title="Text counter",
)

if __name__ == "__main__":
    demo.launch()

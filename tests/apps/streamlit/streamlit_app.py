"""A small Streamlit dashboard: how many tokens a prompt costs at a few context sizes."""

import streamlit as st

st.set_page_config(page_title="Prompt budget", layout="wide")
st.title("Prompt budget")

words = st.slider("Words in the prompt", min_value=10, max_value=4000, value=750, step=10)
tokens_per_word = st.number_input("Tokens per word", min_value=0.5, max_value=3.0, value=1.3)
tokens = int(words * tokens_per_word)

st.metric("Estimated tokens", f"{tokens:,}")
for window in (4096, 8192, 32768, 128000):
    share = min(tokens / window, 1.0)
    st.progress(share, text=f"{window:,}-token window: {share:.0%} used")

"""Placeholder until its issue lands."""

import streamlit as st

st.title("reconstruct")
st.info("This page is being built.")

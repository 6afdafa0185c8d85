"""Placeholder until its issue lands."""

import streamlit as st

st.title("plane")
st.info("This page is being built.")

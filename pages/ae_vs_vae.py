"""Placeholder until its issue lands."""

import streamlit as st

st.title("ae_vs_vae")
st.info("This page is being built.")

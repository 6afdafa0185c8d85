"""Placeholder until its issue lands."""

import streamlit as st

st.title("elbo")
st.info("This page is being built.")

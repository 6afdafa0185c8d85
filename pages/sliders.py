"""Placeholder until its issue lands."""

import streamlit as st

st.title("sliders")
st.info("This page is being built.")

"""Placeholder until its issue lands."""

import streamlit as st

st.title("interpolation")
st.info("This page is being built.")

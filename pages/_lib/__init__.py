"""Shared helpers for the Streamlit pages (not pages themselves: Streamlit lists only pages/*.py).

``live_decoder``: browser-side live decoding widgets (``latent_sliders``, ``latent_plane``).
"""

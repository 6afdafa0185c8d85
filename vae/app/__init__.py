"""What the app needs from a trained model, still without Streamlit: batched inference and
projections (``inference``), the browser export (``export``), background training jobs
(``jobs``) and the first-run default model (``quickstart``)."""

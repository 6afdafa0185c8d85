"""Real-browser end-to-end tests: ``streamlit run app.py`` driven by headless Chromium."""

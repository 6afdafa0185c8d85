"""VAE Latent Explorer: ``streamlit run app.py``.

The entry point builds the navigation and the model picker (shared by every page, so the
chosen model survives page switches), then runs the page the user opened.
"""

from pathlib import Path

# pandas first, fully, before any run can build a chart: Plotly looks pandas up in sys.modules
# without importing it, and while another thread was still importing it (scikit-learn pulls
# it in) the Latent map failed with "partially initialized module 'pandas' has no attribute
# 'Series'". Every run passes this line, and an import in progress elsewhere makes it wait.
import pandas  # noqa: F401
import streamlit as st

from pages._lib import follow, lesson_state, models, navigation, presenter, share, warmup

# A fresh server's first runs may be legacy pages-directory runs: rerun through st.navigation.
navigation.leave_pages_directory_mode()

# A local icon: a Material icon name would make every browser fetch the favicon from a font
# CDN, which fails offline and leaves the classroom network.
ICON = str(Path(__file__).parent / "pages" / "_lib" / "favicon.png")
st.set_page_config(page_title="VAE Latent Explorer", page_icon=ICON, layout="wide")


def _pages() -> dict[str, list[st.Page]]:
    return {
        "Start": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/lesson.py", title="Lesson: 45 minutes", icon=":material/school:"),
        ],
        "Explore a model": [
            st.Page("pages/sliders.py", title="Latent sliders", icon=":material/tune:"),
            st.Page("pages/plane.py", title="2-D latent plane", icon=":material/grid_on:"),
            st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
            st.Page("pages/timelapse.py", title="Watch it learn", icon=":material/slow_motion_video:"),
            st.Page("pages/compare.py", title="Compare models", icon=":material/compare_arrows:"),
            st.Page("pages/reconstruct.py", title="Your image", icon=":material/upload:"),
            st.Page("pages/arithmetic.py", title="Latent arithmetic", icon=":material/calculate:"),
            st.Page("pages/draw.py", title="Draw it yourself", icon=":material/draw:"),
        ],
        "The lecture, live": [
            st.Page("pages/noise.py", title="Noise ε: the reparameterization trick", icon=":material/casino:"),
            st.Page("pages/gradients.py", title="Gradient estimators", icon=":material/trending_down:"),
            st.Page("pages/ae_vs_vae.py", title="Autoencoder vs VAE", icon=":material/compare:"),
            st.Page("pages/elbo.py", title="ELBO vs log p(x)", icon=":material/functions:"),
            st.Page("pages/generation.py", title="Infinite mixture: generation", icon=":material/auto_awesome:"),
            st.Page("pages/interpolation.py", title="Interpolation", icon=":material/linear_scale:"),
        ],
        "Build": [
            st.Page("pages/train.py", title="Train a model", icon=":material/model_training:"),
        ],
    }


PAGES = navigation.pages_once(str(Path(__file__).parent), _pages)  # built once per server

# expanded: with 14 pages Streamlit would fold the last ones under "View 3 more".
page = st.navigation(PAGES, expanded=True)
share.open_link(page.url_path)  # a shared link's model, before the picker draws
share.publish(models.sidebar_model_picker())  # the model in the URL; pages add their view
presenter.sidebar_switch()  # projector styling, on every page while it is on
lesson_state.sidebar_link(page.url_path)  # back to the lesson from a beat's page
navigation.unclipped_labels()  # long page names and select-box values wrap
# One sidebar element, sent once per browser tab: phones close the sidebar after choosing a page;
# Plotly's 4.7 MB of code loads while the first page is read; the live views' code.
navigation.browser_code()
share.sidebar_link()  # "Link to this view", redrawn when the page publishes its view
follow.sidebar({p.url_path: p for group in PAGES.values() for p in group})  # with VAE_PRESENTER_KEY
try:
    page.run()
finally:  # also after st.stop(): the page's view is in the URL by now
    follow.after_run(page.url_path)
    warmup.start()  # once per server, after the first page is drawn: scikit-learn's import

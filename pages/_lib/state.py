"""What a session carries from page to page: the last uploaded image and the latent vector a
user last set. Plain session state, so it survives page switches (a widget's own state is
dropped while its page is not shown)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._lib.models import Current

# The last image a user uploaded on the "Your image" page, preprocessed for the model it was
# uploaded with: float32 numpy (C, H, W) in [0, 1]. Lecture pages may reuse it when its shape
# matches their model (check ``.shape == cur.config.image_shape``).
LAST_UPLOAD_KEY = "last_upload"

# The last drawing finished on the Draw page (also put in LAST_UPLOAD_KEY, so lecture pages
# offer it like an upload): float32 (C, H, W) in [0, 1]; read it with ``last_drawing(cur)``.
LAST_DRAWING_KEY = "last_drawing"

# The latent vector a user last set on the Latent sliders page (the released slider values)
# or pinned on the 2-D latent plane page: list[float] of length D. Plain session state, so it
# survives page switches (a widget's own state is dropped while its page is not shown).
# LATENT_VECTOR_MODEL_KEY holds ``Current.key`` of the model it belongs to: a latent only
# means something to the decoder it came from, so use ``shared_latent(cur)`` to read it.
LATENT_VECTOR_KEY = "latent_vector"

LATENT_VECTOR_MODEL_KEY = "latent_vector_model"


def shared_latent(cur: Current) -> np.ndarray | None:
    """The latent in ``LATENT_VECTOR_KEY`` as float64 ``(D,)`` (the values exactly as set) if it
    belongs to ``cur``'s model, else None."""
    z = st.session_state.get(LATENT_VECTOR_KEY)
    if st.session_state.get(LATENT_VECTOR_MODEL_KEY) != cur.key or z is None:
        return None
    z = np.asarray(z, dtype=np.float64).ravel()
    return z if z.shape == (cur.config.latent_dim,) and np.isfinite(z).all() else None


def remember_latent(cur: Current, z: np.ndarray | list[float]) -> None:
    """Make ``z (D,)`` the latent other pages see for ``cur``'s model (``shared_latent``)."""
    st.session_state[LATENT_VECTOR_KEY] = [float(v) for v in np.asarray(z).ravel()]
    st.session_state[LATENT_VECTOR_MODEL_KEY] = cur.key


def last_drawing(cur: Current) -> np.ndarray | None:
    """The Draw page's last drawing ``(C, H, W)`` if it fits ``cur``'s model, else None."""
    x = st.session_state.get(LAST_DRAWING_KEY)
    ok = isinstance(x, np.ndarray) and x.shape == tuple(cur.config.image_shape)
    return x if ok else None

"""VAE Latent Explorer: a plain PyTorch library behind the Streamlit app.

The folder tree is the architecture; importing any package is cheap and side-effect free:

- ``vae.core``: the model, losses, training loop, devices, checkpoints, metrics;
- ``vae.data``: the dataset registry, file formats, downloads, user uploads;
- ``vae.lecture``: the maths of each lecture page, one module per page;
- ``vae.app``: inference, browser export and training jobs for the app (no Streamlit);
- ``vae.train`` and ``vae.evaluate``: the command-line tools (``python -m vae.train``).

One image layout crosses from ``vae`` to the pages: numpy floats in [0, 1], ``(N, C, H, W)``
for a batch and ``(C, H, W)`` for one image (grey images keep their channel axis, C = 1).
"""

__version__ = "0.1.0"

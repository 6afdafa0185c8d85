"""VAE Latent Explorer: a plain PyTorch library behind the Streamlit app.

Importing this package is cheap and side-effect free; import the submodules you need:
``vae.model``, ``vae.losses``, ``vae.data``, ``vae.training``, ``vae.checkpoints``,
``vae.inference``, ``vae.export``, ``vae.images``, ``vae.lecture``.
"""

__version__ = "0.1.0"

"""The model core: the VAE (``model``), its losses (``losses``), the training loop (``fit``)
and its data-parallel helpers (``distributed``), the device choice (``device``), checkpoint
files (``checkpoints``) and the quality numbers stored in them (``metrics``)."""

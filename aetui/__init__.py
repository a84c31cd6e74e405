"""aetui: a terminal experiment manager for autoencoder research."""

__version__ = "0.1.0"

"""charlm: train word-level GRU/LSTM language models on your own text."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

"""charlm: train word-level GRU/LSTM language models on your own text."""

__version__ = "0.1.0"

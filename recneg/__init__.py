"""recneg: negative sampling for recommender systems and embedding training."""
__version__ = "0.1.0"

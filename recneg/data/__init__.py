"""Interaction data: the CSR-backed Interactions object and train/test splits."""
from .interactions import Interactions, as_csr, as_interactions
from .parquet import Vocabulary, build_vocabulary, load_vocabulary, read_parquet_partition, save_vocabulary
from .splits import split_leave_last_out, split_random, split_temporal

__all__ = ["Interactions", "as_csr", "as_interactions", "split_random", "split_leave_last_out", "split_temporal",
           "read_parquet_partition", "build_vocabulary", "save_vocabulary", "load_vocabulary", "Vocabulary"]

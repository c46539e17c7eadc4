"""Evaluation: full-ranking top-K metrics for recommenders, analogy and word-pair tests for word vectors."""
from .ranking import RankingResult, most_popular_scores, ranking_metrics
from .words import AnalogyResult, WordPairResult, evaluate_analogies, evaluate_word_pairs

__all__ = [
    "ranking_metrics", "RankingResult", "most_popular_scores",
    "evaluate_analogies", "evaluate_word_pairs", "AnalogyResult", "WordPairResult",
]

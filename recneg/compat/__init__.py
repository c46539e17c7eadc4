"""Names that users of other libraries already type, as thin factories onto recneg's models.

- :mod:`recneg.compat.gensim`: gensim's ``Word2Vec`` parameter names and defaults;
  ``KeyedVectors`` needs no shim (``recneg.models.KeyedVectors`` takes gensim's calls).
- :mod:`recneg.compat.implicit`: implicit's ``BayesianPersonalizedRanking`` and
  ``AlternatingLeastSquares`` parameter names and defaults; the models they return take implicit's
  calls (``fit(show_progress=, callback=)``, ``recommend``, ``similar_items``, ``save``/``load``).

Each submodule is imported on its own (``from recneg.compat.gensim import Word2Vec``); this
package imports nothing.
"""

"""Names that users of other libraries already type, as thin factories onto recneg's models.

- :mod:`recneg.compat.gensim`: gensim's ``Word2Vec`` parameter names and defaults;
  ``KeyedVectors`` needs no shim (``recneg.models.KeyedVectors`` takes gensim's calls).

Each submodule is imported on its own (``from recneg.compat.gensim import Word2Vec``); this
package imports nothing.
"""

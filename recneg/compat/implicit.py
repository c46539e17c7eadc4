"""implicit's names for recneg's models: swap ``from implicit.bpr import BayesianPersonalizedRanking`` (or
``implicit.als``'s ``AlternatingLeastSquares``) for ``from recneg.compat.implicit import ...`` and keep the rest.

>>> from recneg.compat.implicit import BayesianPersonalizedRanking
>>> model = BayesianPersonalizedRanking(factors=64, learning_rate=0.01, regularization=0.01, iterations=100)
>>> model.fit(user_items, show_progress=False)
>>> ids, scores = model.recommend(0, user_items[0], N=10)

The factories take implicit 0.7's parameters with implicit's defaults and return recneg models, which
take implicit's calls (``fit(user_items, show_progress=, callback=)``, ``recommend``, ``similar_items``,
``similar_users``, ``save``/``load`` with implicit's ``.npz`` keys; ``implicit.evaluation`` works on them):

* :func:`BayesianPersonalizedRanking` -> :class:`~recneg.models.mf.NumbaMatrixFactorization`, ``loss="bpr"``
  with an item bias (implicit's extra factor column) and, like implicit, negatives drawn in proportion to
  item popularity (implicit picks a random *liked* pair's item: ``NegativeSampler(alpha=1.0)``);
  ``verify_negative_samples`` is ``exclude_seen`` (implicit skips a liked negative, recneg redraws it).
  ``learning_rate``, ``regularization`` and ``iterations`` are ``lr``, ``reg`` and ``epochs`` of the same
  per-pair SGD update; the initial factors have implicit's scale (std ``1 / (sqrt(12) factors)``).
* :func:`AlternatingLeastSquares` -> :class:`~recneg.models.als.ALSMatrixFactorization` with implicit's
  objective: confidence ``c = alpha * r`` on the stored pairs, weight 1 on the others, plain L2
  (``WeightedSquared(alpha0=1, alpha=alpha, confidence_offset=0, nu=0)``), conjugate gradient with 3 steps
  (``use_cg=False``: exact Cholesky solves). ``recalculate_user``/``recalculate_item`` work.

``num_threads=0`` means every core (``workers=os.cpu_count()``), as in implicit; ``random_state`` (int,
None, ``RandomState`` or ``Generator``) seeds the model. What recneg does not do raises NotImplementedError
naming it: ``use_gpu=True`` (the numba BPR and ALS run on the CPU), ``dtype`` other than float32.
:func:`from_implicit_arrays` reads the arrays of a file saved by implicit (``MatrixFactorization.load``
calls it).
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = ["BayesianPersonalizedRanking", "AlternatingLeastSquares", "from_implicit_arrays"]


def _check_dtype(dtype: Any, factory: str) -> None:
    try:
        ok = np.dtype(dtype) == np.float32
    except TypeError:
        ok = False
    if not ok:
        raise NotImplementedError(f"{factory}(dtype={dtype!r}): recneg trains float32 factors only; use "
                                  f"dtype=np.float32 (implicit's default)")


def _check_cpu(use_gpu: Any, factory: str, instead: str) -> None:
    if use_gpu:
        raise NotImplementedError(f"{factory}(use_gpu=True): recneg's {instead} runs on the CPU; use use_gpu=False")


def _workers(num_threads: Any) -> int:
    n = int(num_threads)
    if n < 0:
        raise ValueError(f"num_threads must be >= 0 (0: every core), got {num_threads!r}")
    return n if n > 0 else (os.cpu_count() or 1)


def _seed(random_state: Any) -> int | None:
    """recneg's int seed for implicit's ``random_state`` (None stays None: a fresh random start)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be an int, None, a numpy RandomState or Generator, got {random_state!r}")
    return int(random_state)


def BayesianPersonalizedRanking(factors: int = 100, learning_rate: float = 0.01, regularization: float = 0.01,
                                dtype: Any = np.float32, iterations: int = 100, use_gpu: bool = False,
                                num_threads: int = 0, verify_negative_samples: bool = True,
                                random_state: Any = None) -> Any:
    """implicit's ``BayesianPersonalizedRanking`` (same parameters and defaults, but ``use_gpu=False``): a recneg
    :class:`~recneg.models.mf.NumbaMatrixFactorization` training BPR as implicit does (see the module docstring).
    """
    from ..models.mf import MatrixFactorization
    from ..sampling import NegativeSampler

    _check_dtype(dtype, "BayesianPersonalizedRanking")
    _check_cpu(use_gpu, "BayesianPersonalizedRanking", "BPR kernel (numba)")
    factors = int(factors)
    return MatrixFactorization(
        factors=factors, loss="bpr", backend="numba",
        sampler=NegativeSampler(k=1, alpha=1.0, exclude_seen=bool(verify_negative_samples)),
        lr=learning_rate, reg=regularization, epochs=iterations, use_bias=True,
        init_std=1.0 / (math.sqrt(12.0) * max(factors, 1)), workers=_workers(num_threads), seed=_seed(random_state))


def AlternatingLeastSquares(factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                            dtype: Any = np.float32, use_native: bool = True, use_cg: bool = True,
                            use_gpu: bool = False, iterations: int = 15, calculate_training_loss: bool = False,
                            num_threads: int = 0, random_state: Any = None) -> Any:
    """implicit's ``AlternatingLeastSquares`` (same parameters and defaults, but ``use_gpu=False``): a recneg
    :class:`~recneg.models.als.ALSMatrixFactorization` minimising implicit's objective (see the module docstring).

    ``use_native`` changes nothing: recneg has one (numba) solver. ``calculate_training_loss=True`` records the
    objective of every epoch in ``history`` (``loss``).
    """
    from ..models.als import ALSMatrixFactorization
    from ..models.losses import WeightedSquared

    _check_dtype(dtype, "AlternatingLeastSquares")
    _check_cpu(use_gpu, "AlternatingLeastSquares", "ALS solver (numba)")
    return ALSMatrixFactorization(
        factors=int(factors), loss=WeightedSquared(alpha0=1.0, alpha=alpha, confidence_offset=0.0, nu=0.0),
        reg=regularization, epochs=iterations, solver="cg" if use_cg else "cholesky", cg_steps=3,
        workers=_workers(num_threads), seed=_seed(random_state),
        calculate_training_loss=bool(calculate_training_loss))


def _scalar(z: dict[str, np.ndarray], key: str, default: Any = None) -> Any:
    return z[key].item() if key in z else default


def from_implicit_arrays(z: dict[str, np.ndarray], shown: str = "<file>") -> Any:
    """The recneg model for the arrays of an ``.npz`` saved by implicit's ``BayesianPersonalizedRanking`` or
    ``AlternatingLeastSquares`` (CPU models; their ``save``): the factory's model with the file's parameters,
    and its factors (an implicit BPR's last factor column, ones on the user side, is the item bias).

    Raises:
        ValueError naming ``shown`` when the arrays are not such a file.
    """
    num_threads = _scalar(z, "num_threads", 0)
    random_state = _scalar(z, "random_state")
    uf, itf = z.get("user_factors"), z.get("item_factors")
    if (uf is None) != (itf is None) or (uf is not None and (uf.ndim != 2 or itf.ndim != 2 or
                                                             uf.shape[1] != itf.shape[1])):
        raise ValueError(f"{shown}: user_factors and item_factors must be two 2-D arrays with the same number of "
                         f"columns (an implicit model's factors)")
    bpr = "learning_rate" in z or "verify_negative_samples" in z
    als = "alpha" in z or "use_cg" in z or "cg_steps" in z
    if bpr == als:
        raise ValueError(f"{shown} is neither a recneg MatrixFactorization file (no config array) nor a file saved "
                         f"by implicit's BayesianPersonalizedRanking or AlternatingLeastSquares")
    cols = None if uf is None else uf.shape[1]
    if bpr:
        factors = _scalar(z, "factors", None if cols is None else cols - 1)
        model = BayesianPersonalizedRanking(
            factors=factors, learning_rate=_scalar(z, "learning_rate", 0.01),
            regularization=_scalar(z, "regularization", 0.01), iterations=_scalar(z, "iterations", 100),
            num_threads=num_threads, verify_negative_samples=bool(_scalar(z, "verify_negative_samples", True)),
            random_state=random_state)
        if uf is not None:
            if cols < 2:
                raise ValueError(f"{shown}: an implicit BPR file's factors end with the bias column; got {cols} "
                                 f"column(s)")
            model._U = np.ascontiguousarray(uf[:, :-1], dtype=np.float32)
            model._V = np.ascontiguousarray(itf[:, :-1], dtype=np.float32)
            model._b = np.ascontiguousarray(itf[:, -1], dtype=np.float32)
        return model
    model = AlternatingLeastSquares(
        factors=_scalar(z, "factors", cols if cols is not None else 100),
        regularization=_scalar(z, "regularization", 0.01), alpha=_scalar(z, "alpha", 1.0),
        use_cg=bool(_scalar(z, "use_cg", True)), iterations=_scalar(z, "iterations", 15), num_threads=num_threads,
        random_state=random_state)
    model.cg_steps = int(_scalar(z, "cg_steps", 3))
    model.alpha0_ = 1.0
    if uf is not None:
        model._U = np.ascontiguousarray(uf, dtype=np.float32)
        model._V = np.ascontiguousarray(itf, dtype=np.float32)
        model._b = np.zeros(itf.shape[0], dtype=np.float32)
    return model

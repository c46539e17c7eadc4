"""implicit code, unchanged, on recneg: only the import line differs.

Run: python examples/implicit_dropin.py              (recneg)
     python examples/implicit_dropin.py --implicit   (the same lines on implicit 0.7, to compare)

The five implicit calls of issue 15 (construct, fit(show_progress=False), recommend, similar_items,
implicit.evaluation.ranking_metrics_at_k) on MovieLens-100k: ratings >= 4 as implicit feedback, a
random 80/20 split (recneg's loader and split; the data is read from ../shared/data/movielens/ml-100k,
or, when it is absent, a generated matrix is used instead). Item 49 is "Star Wars (1977)".
implicit's evaluation runs on either model; its "precision" is pooled over users (see
recneg.evaluation.ranking's docstring for how it relates to recneg's precision@K and recall@K).
Both libraries train with every core (num_threads=0, Hogwild), so the last digits vary between runs.

Output (recneg; ML-100k; run 2026-12-01):

    random split: dropped 38 test pairs whose user or item is absent from train
    recommend(0): [982  23 772 499 404] ['Private Parts (1997)', 'Rumble in the Bronx (1995)', 'Swimming with Sharks (1995)', 'People vs. Larry Flynt, The (1996)', 'Close Shave, A (1995)']
    similar_items(49): [  49  178 1140  169  246] ['Star Wars (1977)', 'Return of the Jedi (1983)', 'Low Down Dirty Shame, A (1994)', 'Empire Strikes Back, The (1980)', 'Austin Powers: International Man of Mystery (1997)']
    {'precision': 0.1832, 'map': 0.0913, 'ndcg': 0.1799, 'auc': 0.5745}

With --implicit (implicit 0.7.3, CPU):

    random split: dropped 38 test pairs whose user or item is absent from train
    recommend(0): [ 41 466  23 404   3] ['Clerks (1994)', 'Trainspotting (1996)', 'Rumble in the Bronx (1995)', 'Close Shave, A (1995)', 'Get Shorty (1995)']
    similar_items(49): [  49  178 1054  169 1140] ['Star Wars (1977)', 'Return of the Jedi (1983)', 'Bloodsport 2 (1995)', 'Empire Strikes Back, The (1980)', 'Low Down Dirty Shame, A (1994)']
    {'precision': 0.2123, 'map': 0.109, 'ndcg': 0.2079, 'auc': 0.5844}

The same parameters are not the same training: implicit draws each epoch's positives at random with
replacement and skips a negative the user has seen, recneg visits every positive once per epoch and
redraws such a negative; on this split recneg's BPR lands below implicit's with implicit's popularity
negatives (the same model with uniform negatives, sampler=NegativeSampler(k=1, alpha=0.0), reaches a
precision of 0.26-0.27 over two seeds).
"""
import sys
from pathlib import Path

import numpy as np

if "--implicit" in sys.argv:
    from implicit.bpr import BayesianPersonalizedRanking
else:
    from recneg.compat.implicit import BayesianPersonalizedRanking  # the only change: was implicit.bpr
from implicit.evaluation import ranking_metrics_at_k  # implicit's own evaluation, on either model

# ---- data (setup, not part of the implicit code): users x items CSR matrices, float32
from recneg.data import split_random  # noqa: E402
from recneg.datasets import load_movielens, make_synthetic  # noqa: E402

ML100K = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens" / "ml-100k"
if (ML100K / "u.data").is_file():
    data = load_movielens("100k", path=ML100K, download=False, min_rating=4, binarize=True)
    with open(ML100K / "u.item", encoding="latin-1") as f:
        titles = {int(row.split("|")[0]): row.split("|")[1] for row in f}
    title = [titles[int(i)] for i in data.item_ids]
else:  # no MovieLens here: clustered synthetic interactions of the same size
    data = make_synthetic(n_users=943, n_items=1682, n_clusters=20, interactions_per_user=50, seed=0).interactions
    title = [f"item {i}" for i in range(data.n_items)]
train_i, test_i = split_random(data, test_fraction=0.2, seed=0)
train, test = train_i.csr.astype(np.float32), test_i.csr.astype(np.float32)

# ---- implicit code, unchanged
model = BayesianPersonalizedRanking(factors=64, regularization=0.01, iterations=100, learning_rate=0.01,
                                    random_state=0, use_gpu=False)
model.fit(train, show_progress=False)
ids, scores = model.recommend(0, train[0], N=5)
similar, similarity = model.similar_items(49, N=5)
metrics = ranking_metrics_at_k(model, train, test, K=10, show_progress=False)

# ---- what came out
print(f"recommend(0): {ids} {[title[i] for i in ids]}")
print(f"similar_items(49): {similar} {[title[i] for i in similar]}")
print({k: round(v, 4) for k, v in metrics.items()})

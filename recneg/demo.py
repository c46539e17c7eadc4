"""``recneg demo``: item2vec and BPR on the bundled synthetic data, against most-popular."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Metrics per model (dict of dicts) and the neighbour cluster purity of item2vec and BPR."""

    metrics: dict
    purity: dict
    seconds: float


def neighbour_purity(item_factors: np.ndarray, item_cluster: np.ndarray, n: int = 10) -> float:
    """Mean share of each item's ``n`` cosine neighbours that sit in its planted cluster."""
    v = np.asarray(item_factors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    nb = np.argpartition(-s, n, axis=1)[:, :n]
    return float((item_cluster[nb] == item_cluster[:, None]).mean())


def run_demo(n_users: int = 3000, n_items: int = 1500, n_clusters: int = 12, seed: int = 0, progress: bool = True,
             bpr_epochs: int = 30, i2v_epochs: int = 10, echo=print) -> DemoResult:
    """Build the synthetic data, train item2vec and BPR, evaluate, print a table and neighbours."""
    from .data import split_random
    from .datasets import make_synthetic
    from .evaluation.ranking import most_popular_scores, ranking_metrics
    from .models.item2vec import Item2Vec
    from .models.mf import MatrixFactorization
    from .sampling import NegativeSampler

    t0 = time.perf_counter()
    steps = tqdm(total=5, desc="recneg demo", disable=not progress, leave=False)
    data = make_synthetic(n_users=n_users, n_items=n_items, n_clusters=n_clusters, seed=seed)
    train, test = split_random(data.interactions, test_fraction=0.2, seed=seed)
    steps.update()
    header = [f"data: {data.interactions!r}, {n_clusters} planted clusters, power-law popularity",
              f"split: 80/20 random per user -> train nnz={train.nnz:,}, test nnz={test.nnz:,}"]
    Ks = [20]
    metrics = {}
    pop = most_popular_scores(train)
    metrics["most popular"] = ranking_metrics(train=train, test=test, K=Ks, score_fn=pop).metrics
    steps.update()
    i2v = Item2Vec(vector_size=32, context="window", negative=5, ns_exponent=0.0, epochs=i2v_epochs, seed=seed,
                   progress=False).fit(train)
    metrics["item2vec (uniform negatives)"] = ranking_metrics(i2v, train, test, K=Ks).metrics
    steps.update()
    bpr = MatrixFactorization(factors=32, loss="bpr", sampler=NegativeSampler(k=1, alpha=0.0, exclude_seen=True),
                              epochs=bpr_epochs, seed=seed).fit(train, show_progress=False)
    metrics["BPR (uniform, exclusion)"] = ranking_metrics(bpr, train, test, K=Ks).metrics
    steps.update()
    purity = {
        "item2vec": neighbour_purity(i2v.item_factors, data.item_cluster),
        "BPR": neighbour_purity(bpr.item_factors, data.item_cluster),
        "random": 1.0 / n_clusters,
    }
    steps.update()
    steps.close()
    for line in header:
        echo(line)
    echo("")
    echo("| model | Recall@20 | NDCG@20 |")
    echo("|---|---|---|")
    for name, m in metrics.items():
        echo(f"| {name} | {m['recall@20']:.4f} | {m['ndcg@20']:.4f} |")
    echo("")
    echo(f"neighbour cluster purity@10: item2vec {purity['item2vec']:.2f}, BPR {purity['BPR']:.2f} "
         f"(random {purity['random']:.2f})")
    counts = train.item_counts
    for item in np.argsort(-counts)[[0, 5, 50]]:
        ids, _ = i2v.similar_items(int(item), N=6)
        nb = [int(j) for j in np.asarray(ids).ravel() if int(j) != int(item)][:5]
        echo(f"item {item} (cluster {data.item_cluster[item]}): item2vec neighbours "
             + ", ".join(f"{j} (c{data.item_cluster[j]})" for j in nb))
    secs = time.perf_counter() - t0
    echo(f"\ndone in {secs:.1f}s")
    return DemoResult(metrics, purity, secs)

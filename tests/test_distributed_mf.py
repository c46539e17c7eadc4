"""Data-parallel MF on torch.distributed (issue 16) in a 2-rank gloo group on loopback: planted clusters
recovered as well as by one process, replicated item factors identical on every rank, user rows trained only
by their owner, global in-batch negatives with global logQ, and the single-process backends refusing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dist_helpers import run_ranks, value_errors
from recneg import distributed
from recneg.data import split_random
from recneg.datasets import make_synthetic
from recneg.engine.mf_torch import TorchTrainer
from recneg.evaluation.ranking import most_popular_scores, ranking_metrics
from recneg.models.losses import Softmax
from recneg.models.mf import MatrixFactorization, NumbaMatrixFactorization
from recneg.sampling import InBatchSampler, NegativeSampler

EPOCHS = 10
GLOBAL_BATCH = 256  # one process takes batches of 256 pairs; two take 128 each, so both take the same steps


def _planted():
    data = make_synthetic(n_users=600, n_items=300, n_clusters=6, interactions_per_user=20, noise=0.1, seed=0)
    train, test = split_random(data.interactions, test_fraction=0.2, seed=0)
    return data, train, test


def _model(sampler: str, batch_size: int, seed: int):
    s = InBatchSampler(mask_seen=True) if sampler == "inbatch" else NegativeSampler(k=64, alpha=0.5, shared=True)
    if sampler == "users":  # user batches: dense Adam, so dense item gradients (all-reduced), and W
        return MatrixFactorization(factors=16, loss=Softmax(temperature=0.2), sampler=s, lr=0.01, batch_size=16,
                                   batching="users", history_weight=0.3, use_bias=True, epochs=3, workers=1,
                                   seed=seed, backend="torch")
    return MatrixFactorization(factors=16, loss=Softmax(temperature=0.2), sampler=s, lr=0.01, batch_size=batch_size,
                               epochs=EPOCHS, workers=1, seed=seed, backend="torch")


def _recall(m, train, test) -> float:
    return ranking_metrics(m, train, test, K=20, metrics=["recall"]).metrics["recall@20"]


def _purity(m, data) -> float:
    ids, _ = m.similar_items(np.arange(m.n_items), N=6)
    return float((data.item_cluster[ids[:, 1:]] == data.item_cluster[:, None]).mean())


def _train_rank(rank: int, sampler: str, seed: int):
    """One rank of a 2-process fit; returns what the test compares (every rank evaluates the full model)."""
    from recneg.engine.mf_torch_dist import DistributedTorchTrainer

    made = []
    orig = DistributedTorchTrainer.__init__

    def keep(self, *a, **k):
        orig(self, *a, **k)
        made.append(self)

    DistributedTorchTrainer.__init__ = keep
    TorchTrainer.record = []
    data, train, test = _planted()
    m = _model(sampler, GLOBAL_BATCH // 2, seed).fit(train, show_progress=False)
    tr = made[0]
    TorchTrainer.record, rec = None, TorchTrainer.record
    out = dict(recall=_recall(m, train, test), purity=_purity(m, data), U=m.user_factors, V=m.item_factors,
               block=(tr.start, tr.stop), local_U=tr.U.weight.detach().numpy().copy(),
               users_seen=np.unique(np.concatenate([e["users"].numpy() for e in rec])) + tr.start,
               steps=len(rec), loss=[h["loss"] for h in m.history], bias=m._b.copy(),
               W=None if tr.W is None else tr.W.detach().numpy().copy(),
               bytes_per_step=tr.comm_bytes / (tr.steps_per_epoch * m.epochs))
    if sampler == "inbatch":
        out["batches"] = [(e["positives"].numpy(), e["items"].numpy()) for e in rec]
        out["log_q_batch"] = tr.log_q_batch.numpy()
        u = torch.arange(3)
        i = torch.as_tensor(train.csr[tr.start:tr.start + 3].indices[:1].repeat(3), dtype=torch.int64)
        items, _, log_q = tr._in_batch_negatives(u, i)  # the logQ the loss receives for gathered items
        out["probe"] = (items.numpy(), log_q.numpy())
        out["local_counts"] = np.asarray(train.csr[tr.start:tr.stop].getnnz(axis=0))
    return out


@pytest.fixture(scope="module")
def planted():
    data, train, test = _planted()
    pop = ranking_metrics(train=train, test=test, K=20, score_fn=most_popular_scores(train),
                          metrics=["recall"]).metrics["recall@20"]
    return data, train, test, pop


@pytest.fixture(scope="module")
def two_ranks_shared():
    return run_ranks(_train_rank, 2, "shared", 0)


def test_two_ranks_recover_planted_clusters_as_one_process_does(planted, two_ranks_shared):
    data, train, test, pop = planted
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = [_recall(_model("shared", GLOBAL_BATCH, s).fit(train, show_progress=False), train, test)
               for s in (0, 1, 2)]
    finally:
        torch.set_num_threads(threads)
    r0, r1 = two_ranks_shared
    assert r0["recall"] == r1["recall"]  # both ranks hold the same full model
    assert r0["recall"] > pop + 0.25 and r0["purity"] > 0.8, (r0["recall"], pop, r0["purity"])
    # "within noise": the 2-process run is another draw of the same training (same epochs, same global batch,
    # other negatives), so it must sit within the seed-to-seed spread of one-process runs: 3 standard deviations
    # of 3 seeds, floored at 0.02 Recall@20 (on 120 test users x ~4 items a single hit moves Recall@20 by ~0.002,
    # and 3 seeds underestimate the spread)
    tol = max(3 * float(np.std(one, ddof=1)), 0.02)
    assert abs(r0["recall"] - float(np.mean(one))) <= tol, (r0["recall"], one, tol)


def test_item_factors_identical_and_user_rows_trained_only_by_their_owner(planted, two_ranks_shared):
    _, train, _, _ = planted
    r0, r1 = two_ranks_shared
    np.testing.assert_array_equal(r0["V"], r1["V"])  # replicated, bit for bit: same averaged gradients, same steps
    np.testing.assert_array_equal(r0["U"], r1["U"])  # the gathered user table
    assert r0["loss"] == r1["loss"] and r0["steps"] == r1["steps"]  # equal steps per epoch on both ranks
    n = train.n_users
    assert r0["block"] == distributed.user_block(n, 0, 2) and r1["block"] == distributed.user_block(n, 1, 2)
    for r in (r0, r1):
        a, b = r["block"]
        assert r["local_U"].shape[0] == b - a  # a rank holds (and can update) its own block only
        np.testing.assert_array_equal(r["U"][a:b], r["local_U"])  # the full table took each block from its owner
        active = np.flatnonzero(np.diff(train.csr.indptr)[a:b]) + a
        np.testing.assert_array_equal(r["users_seen"], active)  # trained exactly its own users


def test_dense_item_gradients_user_batches_bias_and_w_stay_replicated(planted):
    _, train, _, _ = planted
    r0, r1 = run_ranks(_train_rank, 2, "users", 0)
    np.testing.assert_array_equal(r0["V"], r1["V"])
    np.testing.assert_array_equal(r0["bias"], r1["bias"])
    np.testing.assert_array_equal(r0["W"], r1["W"])
    assert not np.allclose(r0["W"], np.eye(16))  # W was trained, not merely left at its start
    np.testing.assert_array_equal(r0["U"], r1["U"])
    # dense all-reduce payload per step: V (n_items x 16), bias (n_items x 1) and W (16 x 16), float32
    assert r0["bytes_per_step"] == (train.n_items * 16 + train.n_items + 16 * 16) * 4


@pytest.fixture(scope="module")
def two_ranks_inbatch():
    return run_ranks(_train_rank, 2, "inbatch", 0)


def test_global_in_batch_negatives_span_both_ranks_with_global_log_q(planted, two_ranks_inbatch):
    data, train, test, pop = planted
    r0, r1 = two_ranks_inbatch
    assert len(r0["batches"]) == len(r1["batches"]) > 0
    for (p0, items0), (p1, items1) in zip(r0["batches"], r1["batches"]):
        np.testing.assert_array_equal(items0, np.concatenate([p0, p1]))  # rank order: rank 0's positives first
        np.testing.assert_array_equal(items1, items0)
    counts = np.asarray(train.csr.getnnz(axis=0), dtype=np.float64)
    with np.errstate(divide="ignore"):
        want = np.log(counts / counts.sum()).astype(np.float32)
        local = np.log(r0["local_counts"] / r0["local_counts"].sum()).astype(np.float32)
    for r in (r0, r1):
        np.testing.assert_allclose(r["log_q_batch"], want, rtol=1e-6)
        items, log_q = r["probe"]
        np.testing.assert_allclose(log_q, want[items], rtol=1e-6)
    assert not np.allclose(r0["log_q_batch"][np.isfinite(local)], local[np.isfinite(local)])  # not rank-local counts
    assert r0["recall"] > pop + 0.25, (r0["recall"], pop)


def _refusals(rank: int):
    _, train, _ = _planted()
    return value_errors(lambda: MatrixFactorization().fit(train, show_progress=False),
                        lambda: NumbaMatrixFactorization(factors=4, epochs=1).fit(train, show_progress=False))


def test_numba_and_ials_refuse_two_ranks_naming_the_torch_backend():
    for msgs in run_ranks(_refusals, 2):
        ials, numba = msgs
        assert ials is not None and "iALS" in ials and "backend='torch'" in ials, ials
        assert numba is not None and "numba" in numba and "backend='torch'" in numba, numba


def test_torchrun_environment_without_group_refuses_numba(monkeypatch, planted):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="backend='torch'"):
        NumbaMatrixFactorization(factors=4, epochs=1).fit(planted[1], show_progress=False)


def test_torchrun_cli_trains_and_only_rank_0_writes_and_prints(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dist_helpers import free_port

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
           "-m", "recneg", "train", "mf", "--synthetic", "--loss", "softmax", "--negatives", "32", "--epochs", "1",
           "--factors", "8", "--workers", "1", "-q", "--out", str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("trained mf on synthetic") == 1 and p.stdout.count("recall@20") == 1, p.stdout
    assert sorted(x.name for x in out.iterdir()) == ["meta.json", "model.npz", "test.npz", "train.npz"]
    assert [x.name for x in tmp_path.iterdir()] == ["run"]  # no leftovers of an atomic save by another rank
    m = MatrixFactorization.load(out / "model.npz")
    assert m.user_factors.shape == (2000, 8) and np.isfinite(m.user_factors).all()


def _variants(rank: int):
    from recneg.sampling import AllItems, DynamicNegativeSampler, MixedSampler

    X = make_synthetic(n_users=200, n_items=100, n_clusters=4, interactions_per_user=10, seed=0).interactions
    kw = dict(factors=8, epochs=2, workers=1, backend="torch")
    models = {
        "mixed": MatrixFactorization(loss=Softmax(temperature=0.2), batch_size=64, **kw,
                                     sampler=MixedSampler(InBatchSampler(), NegativeSampler(k=16), shared=True)),
        "dns+linear lr": MatrixFactorization(loss="bpr", sampler=DynamicNegativeSampler(NegativeSampler(k=2), m=4),
                                             batch_size=64, lr_decay="linear", **kw),
        "all items, user batches": MatrixFactorization(loss="softmax", sampler=AllItems(), batch_size=16,
                                                       batching="users", **kw),
        # user batches with sampled shared negatives: RowAdam on sparse item gradients (the touched rows of both
        # ranks), fused CCL
        "ccl shared, user batches (RowAdam)": MatrixFactorization(loss="ccl", sampler=NegativeSampler(k=16, shared=True),
                                                                  batch_size=16, batching="users", **kw),
        "bpr in-batch, averaged": MatrixFactorization(loss="bpr", sampler=InBatchSampler(), batch_size=64,
                                                      average_epochs=2, **kw),
    }
    return {k: (m.fit(X, show_progress=False).item_factors, m.user_factors) for k, m in models.items()}


def test_other_samplers_train_data_parallel_with_replicated_items():
    r0, r1 = run_ranks(_variants, 2)
    for k in r0:
        (V0, U0), (V1, U1) = r0[k], r1[k]
        assert np.isfinite(V0).all() and np.isfinite(U0).all() and U0.shape == (200, 8), k
        np.testing.assert_array_equal(V0, V1, err_msg=k)
        np.testing.assert_array_equal(U0, U1, err_msg=k)


def _stop_on_rank_1(rank: int):
    _, train, _ = _planted()
    m = _model("shared", 128, seed=0)
    m.fit(train, show_progress=False, callbacks=[lambda epoch, model: rank == 1 and epoch == 1])
    return len(m.history), m.item_factors


def test_a_stop_on_one_rank_stops_every_rank():
    """A callback that stops rank 1 alone after epoch 2 stops rank 0 there too (before, rank 0 waited in the
    next epoch's collectives for ever); both end with the same items."""
    (n0, v0), (n1, v1) = run_ranks(_stop_on_rank_1, 2, timeout=120)
    assert n0 == n1 == 2
    np.testing.assert_array_equal(v0, v1)

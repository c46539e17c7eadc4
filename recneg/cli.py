"""The ``recneg`` command line: demo, train, evaluate, similar, lab.

Every subcommand has ``--help`` with examples. Bad paths, wrong columns and bad
options end with one clear ``recneg <cmd>: error: ...`` line and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("recneg")

MODEL_KINDS = ("word2vec", "item2vec", "mf")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): ``recneg CMD: error: ... (see --help)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# ---------------------------------------------------------------- input data
def add_data_args(p: argparse.ArgumentParser, corpus: bool = False) -> None:
    g = p.add_argument_group("input data (give one)")
    g.add_argument("--csv", metavar="PATH", help="CSV or parquet file of interactions (one row per event)")
    g.add_argument("--user-col", default="user", help="user id column of --csv (default: user)")
    g.add_argument("--item-col", default="item", help="item id column of --csv (default: item)")
    g.add_argument("--time-col", default=None, help="timestamp column of --csv (orders item2vec histories)")
    g.add_argument("--weight-col", default=None, help="weight column of --csv")
    g.add_argument("--lightgcn", metavar="DIR", help="LightGCN-format folder with train.txt (and test.txt)")
    g.add_argument("--movielens", metavar="VARIANT", help="MovieLens variant: 100k, 1m, 20m, 25m, latest-small")
    g.add_argument("--movielens-path", metavar="PATH", help="local MovieLens folder or .zip (otherwise downloads)")
    g.add_argument("--synthetic", action="store_true", help="the bundled synthetic dataset (no download)")
    if corpus:
        g.add_argument("--corpus", metavar="PATH", help="text corpus (.txt or .gz, whitespace-tokenised) for word2vec")
    s = p.add_argument_group("split")
    s.add_argument("--split", choices=["auto", "none", "random", "leave-last-out", "temporal"], default="auto",
                   help="held-out split stored with the model (auto: LightGCN's test.txt, else random 80/20)")
    s.add_argument("--test-fraction", type=float, default=0.2, help="test share for --split random (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="random seed for splits and training (default 0)")


def load_data(args: argparse.Namespace):
    """Returns (train, test or None, description) from the input arguments."""
    from .data import Interactions, split_leave_last_out, split_random, split_temporal

    given = [n for n in ("csv", "lightgcn", "movielens") if getattr(args, n, None)] + (["synthetic"] if getattr(args, "synthetic", False) else [])
    if len(given) != 1:
        raise CLIError("give exactly one input: --csv, --lightgcn, --movielens or --synthetic")
    src = given[0]
    test = None
    if src == "csv":
        path = Path(args.csv)
        if not path.is_file():
            raise CLIError(f"--csv {path}: no such file")
        import pandas as pd

        try:
            df = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
        except Exception as e:  # pandas raises many types for unreadable files
            raise CLIError(f"--csv {path}: cannot read it ({e})") from e
        for opt, col in (("--user-col", args.user_col), ("--item-col", args.item_col), ("--time-col", args.time_col), ("--weight-col", args.weight_col)):
            if col is not None and col not in df.columns:
                raise CLIError(f"{opt} {col!r} is not a column of {path}; columns are {list(df.columns)}")
        inter = Interactions.from_dataframe(df, args.user_col, args.item_col, weight_col=args.weight_col, time_col=args.time_col)
        desc = f"csv:{path}"
    elif src == "lightgcn":
        from .datasets import load_lightgcn

        if not Path(args.lightgcn).is_dir():
            raise CLIError(f"--lightgcn {args.lightgcn}: not a folder")
        inter, test = load_lightgcn(args.lightgcn)
        if test.nnz == 0:
            test = None
        desc = f"lightgcn:{args.lightgcn}"
    elif src == "movielens":
        from .datasets import load_movielens

        inter = load_movielens(args.movielens, path=args.movielens_path, binarize=True)
        desc = f"movielens:{args.movielens}"
    else:
        from .datasets import make_synthetic

        inter = make_synthetic(seed=args.seed).interactions
        desc = "synthetic"
    split = args.split
    if split == "auto":
        split = "none" if test is not None else "random"
    if test is not None and split != "none":
        raise CLIError("--lightgcn brings its own test.txt; use --split none or auto")
    if split == "random":
        inter, test = split_random(inter, args.test_fraction, seed=args.seed)
    elif split == "leave-last-out":
        inter, test = split_leave_last_out(inter)
    elif split == "temporal":
        inter, test = split_temporal(inter, quantile=1 - args.test_fraction)
    return inter, test, desc


# ---------------------------------------------------------------- model dirs
def _atomic_dir(target: Path):
    """Context manager: yields a temp folder that replaces ``target`` on success."""

    class _Ctx:
        def __enter__(self_inner) -> Path:
            target.parent.mkdir(parents=True, exist_ok=True)
            self_inner.tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
            return self_inner.tmp

        def __exit__(self_inner, exc_type, exc, tb) -> None:
            if exc_type is not None:
                shutil.rmtree(self_inner.tmp, ignore_errors=True)
                return
            old = None
            if target.exists():
                old = target.with_name(target.name + f".old-{os.getpid()}")
                os.replace(target, old)
            os.replace(self_inner.tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    return _Ctx()


def load_model_dir(path: str | os.PathLike) -> tuple[dict, Any, Any, Any]:
    """Returns (meta, model, train or None, test or None) from a model folder."""
    from .data import Interactions

    d = Path(path)
    if not (d / "meta.json").is_file():
        raise CLIError(f"{d} is not a recneg model folder (no meta.json); create one with `recneg train`")
    meta = json.loads((d / "meta.json").read_text())
    kind = meta.get("kind")
    if kind == "mf":
        from .models.mf import MatrixFactorization

        model = MatrixFactorization.load(d / "model.npz")
    elif kind == "item2vec":
        from .models.item2vec import Item2Vec

        model = Item2Vec.load(d / "model.npz")
    elif kind == "word2vec":
        from .models.keyedvectors import KeyedVectors

        model = KeyedVectors.load(d / "vectors.npz")
    else:
        raise CLIError(f"{d}/meta.json has unknown model kind {kind!r}")
    train = Interactions.load(d / "train.npz") if (d / "train.npz").exists() else None
    test = Interactions.load(d / "test.npz") if (d / "test.npz").exists() else None
    return meta, model, train, test


# ---------------------------------------------------------------- builders
def parse_hard(spec: str | None) -> int | None:
    """``dns:m`` -> m (candidates per negative)."""
    if spec is None:
        return None
    kind, _, m = spec.partition(":")
    if kind != "dns" or not m.isdigit() or int(m) < 2:
        raise CLIError(f"--hard {spec!r}: expected dns:M with M >= 2 candidates, e.g. --hard dns:10")
    return int(m)


def build_model(kind: str, args: argparse.Namespace):
    if kind == "mf":
        from .models.mf import MatrixFactorization

        m = parse_hard(args.hard)
        kw: dict[str, Any] = dict(
            factors=args.factors, loss=args.loss, negatives=args.negatives, alpha=args.ns_exponent,
            exclude_seen=args.exclude_seen, lr=args.lr, reg=args.reg, epochs=args.epochs,
            workers=args.workers, seed=args.seed, device=args.device, progress=not args.quiet,
            lr_decay=args.lr_decay, batching=args.batching, score=args.score, temperature=args.temperature,
            margin=args.margin, negative_weight=args.negative_weight, init_std=args.init_std,
            history_weight=args.history_weight, average_epochs=args.average_epochs,
        )
        kw = {k: v for k, v in kw.items() if v is not None}
        if m is not None:
            kw.update(hard="dns", dns_candidates=m)
        if args.dns_pool is not None:
            if m is None:
                raise CLIError("--dns-pool P picks DNS candidates from a per-user pool; give --hard dns:M too")
            kw.update(dns_pool=args.dns_pool)
        if args.in_batch:
            kw.update(in_batch=True)
        if args.batch_size:
            kw.update(batch_size=args.batch_size)
        return MatrixFactorization(**kw)
    if kind == "item2vec":
        from .models.item2vec import Item2Vec

        if args.hard or args.in_batch or args.negatives == "all":
            raise CLIError("item2vec draws negatives from the popularity^alpha table only; --hard/--in-batch/"
                           "--negatives all apply to mf")
        return Item2Vec(
            vector_size=args.factors, window=args.window, negative=args.negatives, ns_exponent=args.ns_exponent,
            epochs=args.epochs, workers=args.workers, seed=args.seed, progress=not args.quiet,
            callbacks=(lambda epoch, loss: None,) if getattr(args, "plot", False) else (),  # a callback turns on loss tracking
        )
    raise CLIError(f"unknown model kind {kind!r}")


# ---------------------------------------------------------------- commands
def _cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    kind = args.kind
    t0 = time.perf_counter()
    if kind == "word2vec":
        from .models.word2vec import Word2Vec

        if not args.corpus:
            raise CLIError("word2vec needs --corpus PATH (a .txt or .gz text file)")
        if not Path(args.corpus).is_file():
            raise CLIError(f"--corpus {args.corpus}: no such file")
        if args.negatives == "all":
            raise CLIError("word2vec takes a number of negatives per pair; --negatives all applies to mf")
        model = Word2Vec(
            corpus_file=args.corpus, vector_size=args.factors, window=args.window, min_count=args.min_count,
            negative=args.negatives, ns_exponent=args.ns_exponent, sg=0 if args.cbow else 1, sample=args.sample,
            epochs=args.epochs, workers=args.workers, seed=args.seed, progress=not args.quiet, compute_loss=args.plot,
        )
        with _atomic_dir(out) as tmp:
            model.wv.save(tmp / "vectors.npz")
            model.wv.save_word2vec_format(tmp / "vectors.txt", binary=False)
            if args.plot:
                _write_plots(tmp, {"loss": model.losses}, model.vocab.counts, args.ns_exponent, args.seed)
            meta = dict(kind=kind, source=f"corpus:{args.corpus}", params=_params(args), seconds=time.perf_counter() - t0)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        print(f"trained word2vec on {args.corpus}: {len(model.wv):,} words x {args.factors} in {meta['seconds']:.1f}s -> {out}")
        return 0
    train, test, desc = load_data(args)
    model = build_model(kind, args)
    if kind == "mf" and args.plot and test is not None:
        from .evaluation.ranking import ranking_metrics

        def validation(epoch: int, m) -> dict:
            return {"recall@20": ranking_metrics(m, train, test, K=20).metrics["recall@20"]}

        model.fit(train, validation=validation)
    else:
        model.fit(train)
    with _atomic_dir(out) as tmp:
        model.save(tmp / "model.npz")
        if args.plot:
            if kind == "mf":
                hist = {"loss": [h["loss"] for h in model.history]}
                if model.history and "recall@20" in model.history[0]:
                    hist["recall@20 (test)"] = [h["recall@20"] for h in model.history]
            else:
                hist = {"loss": list(model.losses)}
            _write_plots(tmp, hist, train.item_counts, args.ns_exponent if kind != "mf" or not args.in_batch else 0.0, args.seed)
        train.save(tmp / "train.npz")
        if test is not None:
            test.save(tmp / "test.npz")
        if kind == "item2vec":
            from .models.keyedvectors import KeyedVectors

            KeyedVectors(np.asarray(model.item_factors, dtype=np.float32), [str(x) for x in train.item_ids]).save_word2vec_format(tmp / "vectors.txt")
        meta = dict(kind=kind, source=desc, params=_params(args), seconds=time.perf_counter() - t0)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    print(f"trained {kind} on {desc} ({train!r}) in {meta['seconds']:.1f}s -> {out}")
    if test is not None and not args.no_eval:
        res = _evaluate(model, train, test, [10, 20])
        print(_format_metrics(res))
    return 0


def _write_plots(folder: Path, history: dict, counts: np.ndarray, alpha: float, seed: int) -> None:
    """training.png (per-epoch curves) and sampler.png (1M proposal draws against the target)."""
    from .plots import plot_sampled_vs_target, plot_training_curves
    from .sampling import AliasTable, popularity

    history = {k: v for k, v in history.items() if len(v) and not all(np.isnan(v))}
    if history:
        plot_training_curves(history, folder / "training.png")
    table = AliasTable(popularity(counts, alpha))
    plot_sampled_vs_target(table.p, table.sample(1_000_000, seed), folder / "sampler.png",
                           title=f"negative proposal: popularity^{alpha:g}")


def _params(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func" and isinstance(v, (int, float, str, bool, type(None), list))}


def _evaluate(model, train, test, ks: list[int]) -> dict:
    from .evaluation.ranking import ranking_metrics

    res = ranking_metrics(model, train, test, K=ks)
    out = dict(res.metrics)
    out["n_users_evaluated"] = int(res.n_users_evaluated)
    return out


def _format_metrics(m: dict) -> str:
    keys = [k for k in m if "@" in k]
    return "\n".join(f"  {k:<14} {m[k]:.4f}" for k in keys) + f"\n  users evaluated: {m.get('n_users_evaluated', '?')}"


def _cmd_evaluate(args: argparse.Namespace) -> int:
    meta, model, train, test = load_model_dir(args.model)
    if meta["kind"] == "word2vec":
        from .evaluation import words

        if not (args.analogies or args.word_pairs):
            raise CLIError("word2vec models are evaluated with --analogies FILE and/or --word-pairs FILE")
        out: dict[str, Any] = {}
        if args.analogies:
            r = words.evaluate_analogies(model, args.analogies, restrict_vocab=args.restrict_vocab)
            out["analogy_accuracy"] = float(r.accuracy)
            out["analogy_oov_ratio"] = float(r.oov_ratio)
        if args.word_pairs:
            r = words.evaluate_word_pairs(model, args.word_pairs)
            out["spearman"] = float(r.spearman)
            out["pearson"] = float(r.pearson)
        for k, v in out.items():
            print(f"  {k:<18} {v:.4f}")
    else:
        if args.test:
            test = _external_test(args, train)
        if test is None:
            raise CLIError(f"{args.model} has no stored test split; pass --test FILE (a CSV with the training id columns)")
        out = _evaluate(model, train, test, args.k)
        print(_format_metrics(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _external_test(args: argparse.Namespace, train):
    import pandas as pd

    from .data import Interactions

    p = Path(args.test)
    if not p.is_file():
        raise CLIError(f"--test {p}: no such file")
    df = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p)
    for opt, col in (("--user-col", args.user_col), ("--item-col", args.item_col)):
        if col not in df.columns:
            raise CLIError(f"{opt} {col!r} is not a column of {p}; columns are {list(df.columns)}")
    uk = pd.Index(train.user_ids).get_indexer(df[args.user_col])
    ik = pd.Index(train.item_ids).get_indexer(df[args.item_col])
    keep = (uk >= 0) & (ik >= 0)
    if (~keep).any():
        logger.warning("--test: dropped %d rows whose user or item is unknown to the model", int((~keep).sum()))
    if not keep.any():
        raise CLIError(f"--test {p}: no row has a user and item known to the model")
    return Interactions.from_arrays(uk[keep], ik[keep], n_users=train.n_users, n_items=train.n_items,
                                    user_ids=train.user_ids, item_ids=train.item_ids, binarize=True)


def _resolve_item(token: str, ids: np.ndarray) -> int:
    lookup = {str(x): k for k, x in enumerate(ids)}
    if token not in lookup:
        raise CLIError(f"item {token!r} is not in the model's vocabulary")
    return lookup[token]


def _cmd_similar(args: argparse.Namespace) -> int:
    meta, model, train, _ = load_model_dir(args.model)
    if meta["kind"] == "word2vec":
        if args.item not in model:
            raise CLIError(f"word {args.item!r} is not in the vocabulary")
        for key, score in model.most_similar(args.item, topn=args.n):
            print(f"{score:8.4f}  {key}")
        return 0
    idx = _resolve_item(args.item, train.item_ids)
    ids, scores = model.similar_items(idx, N=args.n + 1)
    shown = 0
    for i, s in zip(np.asarray(ids).ravel(), np.asarray(scores).ravel()):
        if int(i) == idx:
            continue
        print(f"{float(s):8.4f}  {train.item_ids[int(i)]}")
        shown += 1
        if shown == args.n:
            break
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(n_users=args.users, n_items=args.items, n_clusters=args.clusters, seed=args.seed, progress=not args.quiet)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from .lab import run_lab

    train, test, desc = load_data(args)
    if test is None:
        raise CLIError("the lab needs a test split; use --split random or leave-last-out")
    run_lab(
        train, test, out=Path(args.out), model=args.model, loss=args.loss, alphas=args.alphas, ks=args.ks,
        exclusion=args.exclusion, dns=args.dns, in_batch=not args.no_in_batch, epochs=args.epochs,
        factors=args.factors, lr=args.lr, reg=args.reg, K=args.k, budget=args.budget, seed=args.seed,
        workers=args.workers, description=desc, plot=not args.no_plot,
    )
    return 0


# ---------------------------------------------------------------- parser
def _fmt() -> type:
    return argparse.RawDescriptionHelpFormatter


def _negatives_arg(text: str) -> int | str:
    """``--negatives``: a positive integer, or "all" (mf: every item, the exact full softmax)."""
    if text == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return n


def add_model_args(p: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    d = dict(factors=64, epochs=20, lr=None, negatives=5)
    d.update(defaults or {})
    g = p.add_argument_group("model")
    g.add_argument("--factors", "--dim", type=int, default=d["factors"], help="embedding dimension (default %(default)s)")
    g.add_argument("--epochs", type=int, default=d["epochs"], help="training epochs (default %(default)s)")
    g.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default: the model's)")
    g.add_argument("--reg", type=float, default=None, help="L2 regularisation (mf; default: the model's)")
    g.add_argument("--loss", default="bpr", choices=["bpr", "softmax", "ccl", "bce"], help="mf loss (default bpr)")
    g.add_argument("--window", type=int, default=5, help="context window (word2vec, item2vec)")
    g.add_argument("--min-count", type=int, default=5, help="word2vec min token count")
    g.add_argument("--sample", type=float, default=1e-3, help="word2vec frequent-word subsampling threshold")
    g.add_argument("--cbow", action="store_true", help="word2vec: CBOW instead of skip-gram")
    g.add_argument("--batch-size", type=int, default=None, help="mini-batch size for torch losses")
    g.add_argument("--workers", type=int, default=2, help="CPU threads (default 2)")
    g.add_argument("--device", default="cpu", help="torch device for torch losses (cpu, cuda)")
    g.add_argument("--lr-decay", choices=["linear"], default=None, help="mf: decay lr linearly to 0 over the epochs")
    g.add_argument("--batching", choices=["pairs", "users"], default=None,
                   help="mf torch losses: batches of pairs (default) or of users with all their positives, "
                        "shared negatives scored once per user (softmax/ccl)")
    g.add_argument("--score", choices=["dot", "cosine"], default=None, help="mf scores (ccl is always cosine)")
    g.add_argument("--temperature", type=float, default=None, help="mf softmax temperature (default 1)")
    g.add_argument("--margin", type=float, default=None, help="mf ccl margin (default 0.9)")
    g.add_argument("--negative-weight", type=float, default=None, help="mf ccl/bce negative weight")
    g.add_argument("--init-std", type=float, default=None, help="mf initialisation std (default 0.1)")
    g.add_argument("--average-epochs", type=int, default=None, metavar="K",
                   help="mf: end with the average of the factors after each of the last K epochs")
    g.add_argument("--history-weight", type=float, default=None, metavar="H",
                   help="mf torch: user = (1-H) * own embedding + H * W @ mean of its history's items (SimpleX)")
    s = p.add_argument_group("negative sampling")
    s.add_argument("--ns-exponent", type=float, default=0.75, help="popularity^alpha proposal (1 = frequency, 0 = uniform, <0 favours rare)")
    s.add_argument("--negatives", type=_negatives_arg, default=d["negatives"],
                   help="negatives per positive, or per batch when shared; mf also takes 'all' (default %(default)s)")
    s.add_argument("--exclude-seen", dest="exclude_seen", action="store_true", default=True, help="redraw negatives the user has seen (default)")
    s.add_argument("--no-exclude-seen", dest="exclude_seen", action="store_false", help="allow seen items as negatives")
    s.add_argument("--hard", default=None, metavar="dns:M", help="dynamic hard negatives: best of M candidates (mf)")
    s.add_argument("--dns-pool", type=int, default=None, metavar="P",
                   help="mf bpr: draw and score P candidates once per user, pick the M DNS candidates from them")
    s.add_argument("--in-batch", action="store_true", help="in-batch negatives with logQ correction (mf softmax)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="recneg", description="Negative sampling for recommenders and embeddings.",
                                epilog="Run `recneg demo` for a one-minute tour; `recneg CMD --help` for each command.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="train item2vec and BPR on the bundled synthetic data and compare them", formatter_class=_fmt(),
                       description="Build the bundled synthetic dataset (no downloads), train item2vec and BPR,\n"
                                   "evaluate full-ranking Recall@20/NDCG@20 against most-popular, and show neighbours.\n\n"
                                   "Examples:\n  recneg demo\n  recneg demo --users 500 --items 300")
    d.add_argument("--users", type=int, default=3000)
    d.add_argument("--items", type=int, default=1500)
    d.add_argument("--clusters", type=int, default=12)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train word2vec, item2vec or mf and write a model folder", formatter_class=_fmt(),
                       description="Train a model and write a model folder (atomically) with meta.json, the model,\n"
                                   "the train/test split, and for vectors a word2vec text file.\n\nExamples:\n"
                                   "  recneg train mf --lightgcn data/gowalla --loss bpr --ns-exponent 0.5 --out runs/bpr\n"
                                   "  recneg train mf --csv events.csv --user-col uid --item-col sku --hard dns:10 --out runs/dns\n"
                                   "  recneg train item2vec --movielens 100k --movielens-path ml-100k --split leave-last-out --out runs/i2v\n"
                                   "  recneg train word2vec --corpus text8.gz --min-count 5 --out runs/w2v")
    t.add_argument("kind", choices=MODEL_KINDS, help="what to train")
    t.add_argument("--out", required=True, help="model folder to write")
    t.add_argument("--no-eval", action="store_true", help="skip evaluating on the held-out split")
    t.add_argument("--plot", action="store_true",
                   help="also write training.png (loss, and for mf test recall@20, per epoch) and sampler.png "
                        "(sampled vs target negatives); needs matplotlib")
    add_data_args(t, corpus=True)
    add_model_args(t)
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="full-ranking metrics of a model folder", formatter_class=_fmt(),
                       description="Evaluate a model folder on its stored test split (or --test FILE), training items masked.\n\n"
                                   "Examples:\n  recneg evaluate runs/bpr --k 10 20 --json metrics.json\n"
                                   "  recneg evaluate runs/w2v --analogies questions-words.txt --word-pairs wordsim353.tsv")
    e.add_argument("model", help="model folder written by `recneg train`")
    e.add_argument("--test", help="CSV/parquet of held-out interactions (ids as in training)")
    e.add_argument("--user-col", default="user")
    e.add_argument("--item-col", default="item")
    e.add_argument("--k", type=int, nargs="+", default=[10, 20], help="cut-offs (default 10 20)")
    e.add_argument("--json", help="also write the metrics to this JSON file")
    e.add_argument("--analogies", help="word2vec: questions-words.txt-format file")
    e.add_argument("--word-pairs", help="word2vec: wordsim353-format file")
    e.add_argument("--restrict-vocab", type=int, default=30000)
    e.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("similar", help="nearest neighbours of an item or word", formatter_class=_fmt(),
                       description="Show the nearest neighbours of ITEM (an original item id, or a word).\n\n"
                                   "Examples:\n  recneg similar runs/i2v 50\n  recneg similar runs/w2v king -n 5")
    s.add_argument("model")
    s.add_argument("item")
    s.add_argument("-n", type=int, default=10)
    s.set_defaults(func=_cmd_similar)

    lab = sub.add_parser("lab", help="sweep negative-sampling strategies and recommend one", formatter_class=_fmt(),
                         description="Sweep alpha, k, exclusion, DNS and in-batch+logQ for one model/loss on one split.\n"
                                     "Picks the best on a validation split carved from train, reports it on test, and\n"
                                     "writes lab.csv, lab.md and lab.png to --out.\n\nExamples:\n"
                                     "  recneg lab --movielens 100k --movielens-path ml-100k --out runs/lab\n"
                                     "  recneg lab --lightgcn data/gowalla --alphas 0 0.5 1 --ks 5 20 --budget 900 --out runs/lab")
    lab.add_argument("--out", required=True)
    lab.add_argument("--model", default="mf", choices=["mf", "item2vec"])
    lab.add_argument("--loss", default="bpr", choices=["bpr", "softmax", "ccl", "bce"])
    lab.add_argument("--alphas", type=float, nargs="+", default=[-0.5, 0.0, 0.5, 0.75, 1.0])
    lab.add_argument("--ks", type=int, nargs="+", default=[1, 5, 20, 100])
    lab.add_argument("--exclusion", choices=["both", "on", "off"], default="both")
    lab.add_argument("--dns", type=int, default=10, help="DNS candidates (0 disables the DNS run)")
    lab.add_argument("--no-in-batch", action="store_true", help="skip the in-batch + logQ run")
    lab.add_argument("--epochs", type=int, default=20)
    lab.add_argument("--factors", type=int, default=64)
    lab.add_argument("--lr", type=float, default=None)
    lab.add_argument("--reg", type=float, default=None)
    lab.add_argument("--k", type=int, default=20, help="metric cut-off (default 20)")
    lab.add_argument("--budget", type=float, default=None, help="wall-time budget in seconds for the sweep")
    lab.add_argument("--workers", type=int, default=2)
    lab.add_argument("--no-plot", action="store_true")
    add_data_args(lab)
    lab.set_defaults(func=_cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CLIError as e:
        print(f"recneg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError, FileNotFoundError, IsADirectoryError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"recneg {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

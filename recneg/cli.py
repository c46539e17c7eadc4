"""The ``recneg`` command line: demo, train, evaluate, similar, lab.

Every subcommand has ``--help`` with examples. Every error, bad input or not, ends with
one ``recneg <cmd>: error: ...`` line on stderr (exit code 2; 1 for an internal error,
130 for Ctrl-C), never a traceback (``-v`` adds one for internal errors).

Output paths are never destroyed: ``--out`` may replace only a folder this command wrote
before (a recneg model or lab folder, recognised by its ``meta.json`` and holding nothing
else), an empty folder, or nothing; anything else is refused unless ``--force`` is given.
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
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

logger = logging.getLogger("recneg")

MODEL_KINDS = ("word2vec", "item2vec", "mf")
# what `recneg train` and `recneg lab` write into their folders: a folder holding anything else is the user's
MODEL_FILES = frozenset({"meta.json", "model.npz", "train.npz", "test.npz", "vectors.npz", "vectors.txt",
                         "training.png", "sampler.png"})
LAB_FILES = frozenset({"meta.json", "lab.csv", "lab.md", "lab.png", "best.json"})
EVALUATE_JSON_TAG = "recneg evaluate"


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): ``recneg CMD: error: ... (see --help)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not np.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return x


# ---------------------------------------------------------------- output paths
def _read_meta(folder: Path) -> dict | None:
    """The folder's meta.json as a dict, or None when it has none or it is not a JSON object."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _recneg_folder(folder: Path) -> str | None:
    """``"model"`` or ``"lab"`` when ``folder`` is one that recneg wrote (meta.json naming a kind recneg
    writes, and no file recneg does not write), else None."""
    if not folder.is_dir() or folder.is_symlink():
        return None
    meta = _read_meta(folder)
    if meta is None:
        return None
    kind = "lab" if meta.get("kind") == "lab" else "model" if meta.get("kind") in MODEL_KINDS else None
    allowed = LAB_FILES if kind == "lab" else MODEL_FILES
    if kind is None or any(p.name not in allowed for p in folder.iterdir()):
        return None
    return kind


def check_out(text: str, force: bool, what: str = "model", opt: str = "--out") -> Path:
    """Validate an output folder before any work: returns its path, or raises CLIError.

    It may not exist yet, be an empty folder, or be a ``what`` ("model"/"lab") folder recneg wrote;
    anything else that exists (a file, a folder of the user's) is refused unless ``force``.
    """
    if not str(text).strip():
        raise CLIError(f"{opt}: empty path; give the folder to write, e.g. {opt} runs/{what}")
    out = Path(text)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise CLIError(f"{opt} {out}: {parent} is a file, not a folder")
    if not (out.exists() or out.is_symlink()) or force:
        return out
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()):
            return out
        found = _recneg_folder(out)
        if found == what:
            return out
        if found is not None:
            why = f"is a recneg {found} folder, not a {what} folder"
        elif (out / "meta.json").is_file():
            why = "is a folder that holds files recneg did not write"
        else:
            why = f"is a folder that is not a recneg {what} folder (no meta.json)"
    else:
        why = "is a file" if out.is_file() else "exists and is not a folder"
    raise CLIError(f"{opt} {out}: {why}; refusing to replace it (choose a new path, or add --force to replace it)")


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree (only ever called on a path the command may replace)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class _AtomicDir:
    """Context manager: yields a temp folder beside ``target`` that replaces ``target`` on success.

    On an exception (Ctrl-C included) the temp folder is removed and ``target`` is left as it was.
    ``target`` is checked again (see :func:`check_out`) just before it is replaced.
    """

    def __init__(self, target: Path, force: bool, what: str = "model") -> None:
        self.target, self.force, self.what = target, force, what

    def __enter__(self) -> Path:
        from ._io import apply_umask

        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="." + self.target.name + ".", suffix=".tmp", dir=self.target.parent))
        apply_umask(self.tmp, directory=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            check_out(str(self.target), self.force, self.what)
        except CLIError:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        old = None
        if self.target.exists() or self.target.is_symlink():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old is not None:
            _remove(old)


def _atomic_dir(target: Path, force: bool = False, what: str = "model") -> _AtomicDir:
    return _AtomicDir(target, force, what)


def _write_json(path: Path, obj: Any) -> None:
    from ._io import atomic_write

    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, default=float) + "\n").encode()))


# ---------------------------------------------------------------- input data
# pandas' own list of strings read as missing, applied to every column but the id columns
_NA_STRINGS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
               "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def read_table(path: Path, opt: str, id_cols: list[str], id_type: str = "str"):
    """Read a CSV or parquet file of interactions as a DataFrame.

    CSV id columns are read as strings (``id_type="str"``: "007" and "7" stay two ids; only an empty
    cell is missing), or typed by pandas (``"infer"``). Every failure is a CLIError naming ``opt`` and the file.
    """
    import pandas as pd

    if not path.is_file():
        raise CLIError(f"{opt} {path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise CLIError(f"{opt} {path}: reading parquet needs pyarrow: pip install 'recneg[parquet]'") from None
            return pd.read_parquet(path)
        if path.suffix.lower() not in _COMPRESSED:  # pandas decompresses those by their suffix
            with open(path, "rb") as f:
                head = f.read(4096)
            if b"\x00" in head or head[:2] in (b"PK", b"\x1f\x8b"):
                raise CLIError(f"{opt} {path}: not a text CSV file (binary, zip or gzip data); give a CSV "
                               f"(.csv.gz etc. are decompressed by their suffix) or a parquet file")
        if id_type == "infer":
            return pd.read_csv(path)
        cols = list(pd.read_csv(path, nrows=0).columns)
        ids = [c for c in id_cols if c in cols]
        return pd.read_csv(path, dtype={c: str for c in ids}, keep_default_na=False,
                           na_values={c: ([""] if c in ids else _NA_STRINGS) for c in cols})
    except CLIError:
        raise
    except Exception as e:  # pandas raises many types for unreadable files
        raise CLIError(f"{opt} {path}: cannot read it as {'parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'} "
                       f"({_one_line(str(e)) or type(e).__name__})") from e


def add_data_args(p: argparse.ArgumentParser, corpus: bool = False) -> None:
    g = p.add_argument_group("input data (give one)")
    g.add_argument("--csv", metavar="PATH", help="CSV or parquet file of interactions (one row per event; parquet needs "
                                                 "pip install 'recneg[parquet]')")
    g.add_argument("--user-col", default="user", help="user id column of --csv (default: user)")
    g.add_argument("--item-col", default="item", help="item id column of --csv (default: item)")
    g.add_argument("--time-col", default=None, help="timestamp column of --csv (orders item2vec histories; needed by "
                                                    "--split leave-last-out and temporal)")
    g.add_argument("--weight-col", default=None, help="weight column of --csv (rows of weight 0 are dropped)")
    g.add_argument("--id-type", choices=["str", "infer"], default="str",
                   help="how --csv ids are read: str keeps them as written ('007' and '7' are two ids; default), "
                        "infer lets pandas type them")
    g.add_argument("--lightgcn", metavar="DIR", help="LightGCN-format folder with train.txt (and test.txt)")
    g.add_argument("--movielens", metavar="VARIANT", help="MovieLens variant: 100k, 1m, 20m, 25m, latest-small "
                                                          "(downloads unless --movielens-path)")
    g.add_argument("--movielens-path", metavar="PATH", help="local MovieLens folder or .zip (otherwise downloads)")
    g.add_argument("--synthetic", action="store_true", help="the bundled synthetic dataset (no download)")
    if corpus:
        g.add_argument("--corpus", metavar="PATH", help="text corpus (.txt or .gz, whitespace-tokenised) for word2vec")
    s = p.add_argument_group("split")
    s.add_argument("--split", choices=["auto", "none", "random", "leave-last-out", "temporal"], default="auto",
                   help="held-out split stored with the model (auto: LightGCN's test.txt, else random 80/20)")
    s.add_argument("--test-fraction", type=float, default=0.2, help="test share for --split random/temporal (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="random seed for splits and training (default 0)")


def load_data(args: argparse.Namespace):
    """Returns (train, test or None, description) from the input arguments."""
    from .data import Interactions, split_leave_last_out, split_random, split_temporal

    given = [n for n in ("csv", "lightgcn", "movielens") if getattr(args, n, None)] + (["synthetic"] if getattr(args, "synthetic", False) else [])
    if len(given) != 1:
        raise CLIError("give exactly one input: --csv, --lightgcn, --movielens or --synthetic")
    src = given[0]
    test = None
    if not 0 < args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be between 0 and 1 (exclusive), got {args.test_fraction}")
    if src == "csv":
        path = Path(args.csv)
        df = read_table(path, "--csv", [args.user_col, args.item_col], args.id_type)
        for opt, col in (("--user-col", args.user_col), ("--item-col", args.item_col), ("--time-col", args.time_col), ("--weight-col", args.weight_col)):
            if col is not None and col not in df.columns:
                raise CLIError(f"{opt} {col!r} is not a column of {path}; columns are {list(df.columns)}")
        if len(df) == 0:
            raise CLIError(f"--csv {path}: has a header but no rows")
        for opt, col in (("--user-col", args.user_col), ("--item-col", args.item_col)):
            if df[col].isna().any():
                raise CLIError(f"{opt} {col!r}: {int(df[col].isna().sum())} rows of {path} have no id; drop or fill them")
        try:
            inter = Interactions.from_dataframe(df, args.user_col, args.item_col, weight_col=args.weight_col, time_col=args.time_col)
        except (ValueError, TypeError) as e:
            raise CLIError(f"--csv {path}: {_one_line(str(e))}") from e
        if inter.nnz == 0:
            raise CLIError(f"--weight-col {args.weight_col!r}: every weight in {path} is zero, so no interaction is left")
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
        from .datasets import DownloadError, load_movielens

        try:
            inter = load_movielens(args.movielens, path=args.movielens_path, binarize=True)
        except DownloadError as e:
            raise CLIError(f"--movielens {args.movielens}: {_one_line(str(e.args[0])).split('; pass path=')[0]}; "
                           f"without network, pass --movielens-path PATH (a local copy, folder or .zip)") from e
        except FileNotFoundError as e:
            raise CLIError(f"--movielens-path {args.movielens_path}: {_one_line(str(e))}") from e
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
    if split in ("leave-last-out", "temporal") and inter.timestamps is None:
        raise CLIError(f"--split {split} needs timestamps: give --time-col COLUMN"
                       + ("" if src == "csv" else f" (the {src} input has none)"))
    if split == "random":
        inter, test = split_random(inter, args.test_fraction, seed=args.seed)
    elif split == "leave-last-out":
        inter, test = split_leave_last_out(inter)
    elif split == "temporal":
        inter, test = split_temporal(inter, quantile=1 - args.test_fraction)
    return inter, test, desc


# ---------------------------------------------------------------- model dirs
def load_model_dir(path: str | os.PathLike) -> tuple[dict, Any, Any, Any]:
    """Returns (meta, model, train or None, test or None) from a model folder."""
    from .data import Interactions

    d = Path(path)
    if not (d / "meta.json").is_file():
        raise CLIError(f"{d} is not a recneg model folder (no meta.json); create one with `recneg train`")
    try:
        meta = json.loads((d / "meta.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CLIError(f"{d / 'meta.json'} is corrupt ({_one_line(str(e))}); train the model again") from e
    if not isinstance(meta, dict):
        raise CLIError(f"{d / 'meta.json'} is corrupt (not a JSON object); train the model again")
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
    elif kind == "lab":
        raise CLIError(f"{d} is a `recneg lab` folder, not a model; its table is {d / 'lab.md'}")
    else:
        raise CLIError(f"{d / 'meta.json'} has unknown model kind {kind!r}")
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


# option dest -> (flag, the model kinds that use it); given to another kind, it is refused, not ignored
_KIND_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loss": ("--loss", ("mf", "item2vec", "word2vec")), "reg": ("--reg", ("mf",)), "lr_decay": ("--lr-decay", ("mf",)),
    "batching": ("--batching", ("mf",)), "score": ("--score", ("mf",)), "temperature": ("--temperature", ("mf",)),
    "margin": ("--margin", ("mf",)), "negative_weight": ("--negative-weight", ("mf",)),
    "init_std": ("--init-std", ("mf",)), "average_epochs": ("--average-epochs", ("mf",)),
    "history_weight": ("--history-weight", ("mf",)),
    "unobserved_ratio": ("--unobserved-ratio", ("mf",)), "nu": ("--nu", ("mf",)),
    "exclude_seen": ("--exclude-seen/--no-exclude-seen", ("mf", "item2vec")),
    "hard": ("--hard", ("mf", "item2vec")), "dns_pool": ("--dns-pool", ("mf",)), "in_batch": ("--in-batch", ("mf",)),
    "mixed": ("--mixed", ("mf",)),
    "window": ("--window", ("word2vec", "item2vec")), "sample": ("--sample", ("word2vec", "item2vec")),
    "cbow": ("--cbow", ("word2vec", "item2vec")), "min_count": ("--min-count", ("word2vec",)),
}


MF_LOSSES = ("bpr", "warp", "bce", "nce", "softmax", "ccl", "ials")
SKIPGRAM_LOSSES = ("sgns", "nce")


def check_loss(kind: str, loss: str | None) -> None:
    """Refuse a ``--loss`` that ``kind`` does not train (mf: MF_LOSSES; word2vec, item2vec: SKIPGRAM_LOSSES)."""
    if loss is None:
        return
    if kind == "mf" and loss not in MF_LOSSES:
        raise CLIError(f"--loss {loss} applies to word2vec and item2vec; mf takes --loss {', '.join(MF_LOSSES)}")
    if kind != "mf" and loss not in SKIPGRAM_LOSSES:
        raise CLIError(f"--loss {loss} applies to mf; {kind} takes --loss sgns (skip-gram negative sampling, the "
                       f"default) or nce")


def check_options(kind: str, args: argparse.Namespace) -> None:
    """Refuse options that ``kind`` would ignore (one line naming them and the models that use them)."""
    check_loss(kind, getattr(args, "loss", None))
    if kind != "mf" and args.negatives == "all":
        raise CLIError(f"{kind} takes a number of negatives per pair; --hard, --in-batch and --negatives all apply to mf")
    wrong = [(flag, kinds) for dest, (flag, kinds) in _KIND_OPTIONS.items()
             if getattr(args, dest, None) not in (None, False) and kind not in kinds]
    if wrong:
        flags = ", ".join(f for f, _ in wrong)
        users = sorted({k for _, ks in wrong for k in ks})
        raise CLIError(f"{flags} {'applies' if len(wrong) == 1 else 'apply'} to {' and '.join(users)}, not {kind}; "
                       f"leave {'it' if len(wrong) == 1 else 'them'} out")


def check_device(device: str) -> None:
    """Fail before any work when ``--device`` names no usable torch device."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise CLIError(f"--device {device!r}: not a torch device; use cpu or cuda") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise CLIError(f"--device {device}: no CUDA device is available (torch {torch.__version__} is {build}); "
                           f"use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CLIError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise CLIError(f"--device {device}: no MPS device is available; use --device cpu")


def _schedule_arg(text: Any, opt: str, epochs: int) -> Any:
    """A number, or a START:END[:linear|exp] schedule over the epochs (CLIError naming the option)."""
    from .sampling import parse_schedule

    try:
        return parse_schedule(text, epochs, opt)
    except (TypeError, ValueError) as e:
        raise CLIError(_one_line(str(e))) from None


# loss options -> the losses that use them
_LOSS_OPTIONS = {"temperature": ("--temperature", ("softmax",)), "margin": ("--margin", ("ccl", "warp")),
                 "negative_weight": ("--negative-weight", ("ccl", "bce")), "score": ("--score", ("bpr", "bce", "softmax"))}


def build_loss(args: argparse.Namespace):
    """The mf loss of ``--loss`` and its options (CLIError for an option the loss does not use)."""
    from .models.losses import as_loss

    name = args.loss or "bpr"
    opts: dict[str, Any] = {}
    for dest, (flag, losses) in _LOSS_OPTIONS.items():
        v = getattr(args, dest, None)
        if v is None:
            continue
        if name not in losses:
            raise CLIError(f"{flag} applies to --loss {' or '.join(losses)}, not {name}")
        opts[dest] = _schedule_arg(v, flag, args.epochs) if dest == "temperature" else v
    if not opts:
        return as_loss(name)
    try:
        return as_loss({"name": name, **opts})
    except (TypeError, ValueError) as e:
        raise CLIError(_one_line(str(e))) from None


def build_sampler_from_args(kind: str, args: argparse.Namespace):
    """The sampler of the negative-sampling options (``--negatives --ns-exponent --exclude-seen --hard
    --dns-pool --in-batch --mixed``), with schedules over ``--epochs``."""
    from .models.factory import build_sampler

    m = parse_hard(args.hard)
    if args.dns_pool is not None and m is None:
        raise CLIError("--dns-pool P picks DNS candidates from a per-user pool; give --hard dns:M too")
    if args.in_batch and args.mixed:
        raise CLIError("--mixed already adds in-batch negatives to the proposal's; give one of --in-batch, --mixed")
    k = args.negatives if args.negatives == "all" else _schedule_arg(args.negatives, "--negatives", args.epochs)
    if k != "all" and not isinstance(k, str) and k(0) < 1:
        raise CLIError(f"--negatives must be >= 1, got {args.negatives}")
    alpha = _schedule_arg(args.ns_exponent, "--ns-exponent", args.epochs)
    try:
        return build_sampler(k=k, alpha=alpha, exclude_seen=True if args.exclude_seen is None else args.exclude_seen,
                             dns=m, dns_pool=args.dns_pool or 0, in_batch=args.in_batch, mixed=args.mixed,
                             warp=kind == "mf" and (args.loss or "bpr") == "warp", seed=args.seed)
    except (TypeError, ValueError) as e:
        raise CLIError(_one_line(str(e))) from None


def build_model(kind: str, args: argparse.Namespace):
    """The model ``recneg train`` trains (through :func:`recneg.models.factory.build_model`)."""
    from .models.factory import build_model as make

    check_options(kind, args)
    ials_opts = _ials_options(args)
    if kind == "mf" and (getattr(args, "mf_default", False) or _asks_ials(args)):
        given = getattr(args, "sampled_flags", [])  # without the exclusion flags: iALS takes them
        if given:
            raise CLIError(f"--loss ials weighs every unseen item, without a sampler or SGD: leave out "
                           f"{', '.join(given)}")
        from .models.losses import as_loss
        from .sampling import AllItems

        try:
            loss = as_loss({"name": "ials", **ials_opts})
        except (TypeError, ValueError) as e:
            raise CLIError(_one_line(str(e))) from None
        sampler = AllItems(exclude_seen=args.exclude_seen is not False)  # --no-exclude-seen: every item
        return make("mf", sampler, factors=args.factors, loss=loss, reg=args.reg, epochs=args.epochs,
                    workers=args.workers, seed=args.seed)
    wrong = [f"--{k.replace('_', '-')}" for k in ials_opts]
    if kind == "mf" and wrong:
        raise CLIError(f"{', '.join(wrong)} {'applies' if len(wrong) == 1 else 'apply'} to --loss ials, "
                       f"not {args.loss or 'bpr'}")
    sampler = build_sampler_from_args(kind, args)
    if kind == "mf":
        loss = build_loss(args)
        batching = args.batching
        return make("mf", sampler, factors=args.factors, loss=loss, lr=args.lr, reg=args.reg, epochs=args.epochs,
                    workers=args.workers, seed=args.seed, device=None if args.device == "cpu" else args.device,
                    lr_decay=args.lr_decay, batching=batching, init_std=args.init_std, history_weight=args.history_weight,
                    average_epochs=args.average_epochs, batch_size=args.batch_size)
    if kind == "item2vec":
        return make("item2vec", sampler, vector_size=args.factors, sg=0 if args.cbow else 1, epochs=args.epochs,
                    loss=args.loss,
                    workers=args.workers, seed=args.seed, device=args.device, progress=not args.quiet,
                    callbacks=(lambda epoch, loss: None,) if getattr(args, "plot", False) else None,  # loss tracking
                    window=args.window, sample=args.sample, alpha=args.lr, batch_size=args.batch_size)
    raise CLIError(f"unknown model kind {kind!r}")


# ---------------------------------------------------------------- commands
# options that ask `recneg train mf` for a sampled-negative model (BPR unless --loss says otherwise)
_SAMPLED_MF_FLAGS = ("negatives", "ns_exponent", "hard", "dns_pool", "exclude_seen", "in_batch", "mixed", "lr",
                     "lr_decay", "batching", "batch_size", "average_epochs", "history_weight", "init_std", "score",
                     "temperature", "margin", "negative_weight")


def _ials_options(args: argparse.Namespace) -> dict[str, float]:
    """iALS's own options that were given (``--unobserved-ratio``, ``--nu``), by loss-spec name."""
    return {k: v for k in ("unobserved_ratio", "nu") if (v := getattr(args, k, None)) is not None}


def _asks_ials(args: argparse.Namespace) -> bool:
    """``--loss ials``, or no ``--loss`` and an iALS option (the library default's other trigger, no sampler or
    SGD option, is ``args.mf_default``)."""
    return args.loss == "ials" or (args.loss is None and bool(_ials_options(args)))


def resolve_defaults(args: argparse.Namespace) -> None:
    """Fill the options left unset. ``recneg train mf`` with no --loss, no sampler and no SGD option and a CPU
    device trains the library's default, iALS (as ``MatrixFactorization()``; ``args.mf_default``); otherwise the
    sampled defaults apply: 5 negatives, popularity^0.75, 20 epochs."""
    args.sampled_flags = ["--" + f.replace("_", "-") for f in _SAMPLED_MF_FLAGS
                          if getattr(args, f, None) not in (None, False)]
    if getattr(args, "exclude_seen", None) is False:  # --no-exclude-seen asks for a sampler too
        args.sampled_flags.append("--no-exclude-seen")
    if _asks_ials(args):  # iALS's exclusion (AllItems(exclude_seen=...)) is not a sampler option
        args.sampled_flags = [f for f in args.sampled_flags if f not in ("--exclude-seen", "--no-exclude-seen")]
    args.mf_default = args.kind == "mf" and args.loss is None and args.device == "cpu" and not args.sampled_flags
    if args.negatives is None:
        args.negatives = 5
    if args.ns_exponent is None:
        args.ns_exponent = 0.75
    if args.epochs is None and not (args.mf_default or (args.kind == "mf" and _asks_ials(args))):
        args.epochs = 20


def _cmd_train(args: argparse.Namespace) -> int:
    kind = args.kind
    resolve_defaults(args)
    out = check_out(args.out, args.force)
    args._out_existed = out.exists() or out.is_symlink()
    check_device(args.device)
    t0 = time.perf_counter()
    if kind == "word2vec":
        from .models.word2vec import Word2Vec

        if not args.corpus:
            raise CLIError("word2vec needs --corpus PATH (a .txt or .gz text file)")
        if not Path(args.corpus).is_file():
            raise CLIError(f"--corpus {args.corpus}: no such file")
        check_options(kind, args)
        if isinstance(args.negatives, str) or isinstance(args.ns_exponent, str):
            raise CLIError("word2vec takes gensim's fixed --negatives N and --ns-exponent A (no schedules); "
                           "schedules apply to mf and item2vec")
        kw = dict(window=args.window, sample=args.sample, min_count=args.min_count, alpha=args.lr,
                  batch_size=args.batch_size, loss=args.loss)
        model = Word2Vec(
            corpus_file=args.corpus, vector_size=args.factors, negative=args.negatives, ns_exponent=args.ns_exponent,
            sg=0 if args.cbow else 1, epochs=args.epochs, workers=args.workers, seed=args.seed, device=args.device,
            progress=not args.quiet, compute_loss=args.plot, **{k: v for k, v in kw.items() if v is not None},
        )
        with _atomic_dir(out, args.force) as tmp:
            model.wv.save(tmp / "vectors.npz")
            model.wv.save_word2vec_format(tmp / "vectors.txt", binary=False)
            if args.plot:
                _write_plots(tmp, {"loss": model.losses}, model.vocab.counts, args.ns_exponent, args.seed)
            meta = dict(kind=kind, source=f"corpus:{args.corpus}", params=_params(args), seconds=time.perf_counter() - t0)
            _write_json(tmp / "meta.json", meta)
        print(f"trained word2vec on {args.corpus}: {len(model.wv):,} words x {args.factors} in {meta['seconds']:.1f}s -> {out}")
        return 0
    if args.corpus:
        raise CLIError(f"--corpus is word2vec's input; {kind} takes --csv, --lightgcn, --movielens or --synthetic")
    model = build_model(kind, args)
    if args.plot and hasattr(model, "calculate_training_loss"):
        model.calculate_training_loss = True  # iALS computes its objective only when asked: the plot shows it
    main_rank = _join_processes(args)
    train, test, desc = load_data(args)
    if kind == "mf" and args.plot and test is not None:
        from .evaluation.ranking import ranking_metrics

        def validation(epoch: int, m) -> dict:
            return {"recall@20": ranking_metrics(m, train, test, K=20).metrics["recall@20"]}

        model.fit(train, validation=validation, show_progress=not args.quiet)
    elif kind == "mf":
        model.fit(train, show_progress=not args.quiet)
    else:
        model.fit(train)
    if not main_rank:  # a torchrun job: rank 0 writes and prints; the others join its evaluation, if any
        if test is not None and not args.no_eval:
            _evaluate(model, train, test, [10, 20])
        distributed_barrier()
        return 0
    with _atomic_dir(out, args.force) as tmp:
        model.save(tmp / "model.npz")
        if args.plot:
            if kind == "mf":
                hist = {"loss": [h["loss"] for h in model.history]}
                if model.history and "recall@20" in model.history[0]:
                    hist["recall@20 (test)"] = [h["recall@20"] for h in model.history]
            else:
                hist = {"loss": list(model.losses)}
            alpha0 = _schedule_arg(args.ns_exponent, "--ns-exponent", args.epochs)(0)
            _write_plots(tmp, hist, train.item_counts, alpha0 if not (args.in_batch or args.mixed) else 0.0, args.seed)
        train.save(tmp / "train.npz")
        if test is not None:
            test.save(tmp / "test.npz")
        if kind == "item2vec":
            from .models.keyedvectors import KeyedVectors

            KeyedVectors(np.asarray(model.item_factors, dtype=np.float32), [str(x) for x in train.item_ids]).save_word2vec_format(tmp / "vectors.txt")
        meta = dict(kind=kind, source=desc, params=_params(args), seconds=time.perf_counter() - t0)
        _write_json(tmp / "meta.json", meta)
    print(f"trained {kind} on {desc} ({train!r}) in {meta['seconds']:.1f}s -> {out}")
    if test is not None and not args.no_eval:
        res = _evaluate(model, train, test, [10, 20])
        print(_format_metrics(res))
    distributed_barrier()
    return 0


def _join_processes(args: argparse.Namespace) -> bool:
    """Under torchrun (WORLD_SIZE > 1): join the process group for ``args.device`` and quiet every rank but 0
    (errors only: no warnings, progress bars or output). Returns whether this process is the one that writes and prints
    (True without torchrun)."""
    from . import distributed

    if not distributed.launched():
        return True
    di = distributed.init(args.device)
    if not di.is_main:  # rank 0 reports for the job (the ranks load the same data and see the same warnings)
        args.quiet = True
        logging.getLogger().setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
    return di.is_main


def distributed_barrier() -> None:
    """Wait for every rank of a torchrun job (nothing in one process, and torch is not imported for it)."""
    d = sys.modules.get("torch.distributed")
    if d is not None and d.is_available() and d.is_initialized():
        d.barrier()


def _write_plots(folder: Path, history: dict, counts: np.ndarray, alpha: float, seed: int) -> None:
    """training.png (per-epoch curves) and sampler.png (1M proposal draws against the target)."""
    from .plots import plot_sampled_vs_target, plot_training_curves
    from .sampling import popularity
    from .sampling.kernels import KernelSampler

    history = {k: v for k, v in history.items() if len(v) and not all(np.isnan(v))}
    if history:
        plot_training_curves(history, folder / "training.png")
    sampler = KernelSampler.from_weights(popularity(counts, alpha))
    draws = sampler.sample(np.zeros(1000, np.int64), 1000, seed).ravel()  # 1M proposal draws
    plot_sampled_vs_target(sampler.p, draws, folder / "sampler.png",
                           title=f"negative proposal: popularity^{alpha:g}")


def _params(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items()
            if k != "func" and not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None), list))}


def _evaluate(model, train, test, ks: list[int]) -> dict:
    from .evaluation.ranking import ranking_metrics

    res = ranking_metrics(model, train, test, K=ks)
    out = dict(res.metrics)
    out["n_users_evaluated"] = int(res.n_users_evaluated)
    return out


def _format_metrics(m: dict) -> str:
    keys = [k for k in m if "@" in k]
    return "\n".join(f"  {k:<14} {m[k]:.4f}" for k in keys) + f"\n  users evaluated: {m.get('n_users_evaluated', '?')}"


def _check_json_out(text: str, force: bool) -> Path:
    """``--json``: a new file, or one an earlier ``recneg evaluate`` wrote; anything else needs --force."""
    if not str(text).strip():
        raise CLIError("--json: empty path; give the file to write, e.g. --json metrics.json")
    p = Path(text)
    if p.is_dir():
        raise CLIError(f"--json {p}: is a folder; give a file path")
    if p.parent != Path("") and p.parent.exists() and not p.parent.is_dir():
        raise CLIError(f"--json {p}: {p.parent} is a file, not a folder")
    if p.exists() and not force:
        try:
            ours = json.loads(p.read_text()).get("written_by") == EVALUATE_JSON_TAG
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise CLIError(f"--json {p}: exists and was not written by `recneg evaluate`; refusing to replace it "
                           f"(choose a new path, or add --force to replace it)")
    return p


def _cmd_evaluate(args: argparse.Namespace) -> int:
    json_out = _check_json_out(args.json, args.force) if args.json is not None else None
    meta, model, train, test = load_model_dir(args.model)
    if meta["kind"] == "word2vec":
        from .evaluation import words

        if not (args.analogies or args.word_pairs):
            raise CLIError("word2vec models are evaluated with --analogies FILE and/or --word-pairs FILE")
        for opt, f in (("--analogies", args.analogies), ("--word-pairs", args.word_pairs)):
            if f is not None and not Path(f).is_file():
                raise CLIError(f"{opt} {f}: no such file")
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
        if args.analogies or args.word_pairs:
            raise CLIError(f"--analogies/--word-pairs evaluate word2vec models; {args.model} is {meta['kind']}")
        if train is None:
            raise CLIError(f"{args.model} has no train.npz; train the model again with `recneg train`")
        if args.test:
            test = _external_test(args, train, meta)
        if test is None:
            raise CLIError(f"{args.model} has no stored test split; pass --test FILE (a CSV with the training id columns)")
        out = _evaluate(model, train, test, args.k)
        print(_format_metrics(out))
    if json_out is not None:
        _write_json(json_out, {**out, "written_by": EVALUATE_JSON_TAG, "model": str(args.model)})
        print(f"wrote {json_out}")
    return 0


def _external_test(args: argparse.Namespace, train, meta: dict):
    import pandas as pd

    from .data import Interactions

    p = Path(args.test)
    id_type = (meta.get("params") or {}).get("id_type", "infer")  # models trained before --id-type read ids typed
    df = read_table(p, "--test", [args.user_col, args.item_col], id_type)
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
    if train is None:
        raise CLIError(f"{args.model} has no train.npz (it maps item ids); train the model again with `recneg train`")
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


# the staged grid's options: given to the tuner they are refused (dest -> flag, the grid's default)
_LAB_GRID_ONLY: dict[str, tuple[str, Any]] = {
    "alphas": ("--alphas", [-0.5, 0.0, 0.5, 0.75, 1.0]), "ks": ("--ks", [1, 5, 20, 100]),
    "exclusion": ("--exclusion", "both"), "dns": ("--dns", 10), "no_in_batch": ("--no-in-batch", False),
    "no_schedules": ("--no-schedules", False), "lr": ("--lr", None), "reg": ("--reg", None),
}


def _lab_grid_given(args: argparse.Namespace) -> list[str]:
    """The staged grid's options given on the command line (they default to None, the flags to False)."""
    return [flag for dest, (flag, _) in _LAB_GRID_ONLY.items() if getattr(args, dest) is not None
            and getattr(args, dest) is not False]


def _lab_search(args: argparse.Namespace) -> str:
    """``--search auto``: the staged grid for item2vec or when a grid option is given (the lab's behaviour
    before the tuner), else the tuner (tpe when optuna imports, else halving)."""
    if args.search != "auto":
        return args.search
    return "grid" if args.model != "mf" or _lab_grid_given(args) else "auto"


def _prepare_lab(args: argparse.Namespace):
    """The lab's checked output folder (an earlier lab's files removed, or a replaced path with --force) and its
    data: (out, train, test, description); CLIError when the data has no test split."""
    out = check_out(args.out, args.force, "lab")
    train, test, desc = load_data(args)
    if test is None:
        raise CLIError("the lab needs a test split; use --split random or leave-last-out")
    if out.exists() or out.is_symlink():  # an empty folder, an earlier lab's, or --force
        if _recneg_folder(out) == "lab":
            for name in LAB_FILES:
                _remove(out / name)
        elif out.is_symlink() or not out.is_dir() or any(out.iterdir()):
            _remove(out)
    args._lab_out = out
    return out, train, test, desc


def _lab_echo(args: argparse.Namespace):
    """The lab's progress lines, one per trial or run, on stderr (None with -q)."""
    return (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else None


def _lab_report(out: Path, best: Any, unit: str) -> int:
    """Print the lab's table and the files it wrote; CLIError when no ``unit`` (trial or run) finished."""
    print((out / "lab.md").read_text().rstrip())
    written = [p.name for p in sorted(out.iterdir())]
    print(f"\nwrote {out}/: {', '.join(written)}")
    if best is None:
        raise CLIError(f"no {unit} finished; see {out / 'lab.md'}")
    return 0


def _cmd_lab_tune(args: argparse.Namespace, search: str) -> int:
    """``recneg lab`` with a tuner search (see :mod:`recneg.tuning`)."""
    from .tuning import available_losses, tune

    if args.model != "mf":
        raise CLIError(f"--search {search} tunes --model mf; use --search grid for {args.model}")
    grid = _lab_grid_given(args)
    if grid:
        raise CLIError(f"{', '.join(grid)} {'applies' if len(grid) == 1 else 'apply'} to --search grid; the tuner "
                       f"searches negatives, lr and reg itself (leave {'it' if len(grid) == 1 else 'them'} out, or "
                       f"add --search grid)")
    check_loss(args.model, args.loss)
    if args.loss is not None and args.loss not in available_losses():
        raise CLIError(f"--loss {args.loss}: the tuner searches {', '.join(available_losses())}; use --search grid "
                       f"for {args.loss}")
    if search == "tpe":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise CLIError("--search tpe needs optuna: pip install 'recneg[tune]' (or --search halving, which needs "
                           "nothing more)") from None
    out, train, test, desc = _prepare_lab(args)
    budget = args.budget if args.budget is not None or args.trials is not None else 300.0
    echo = _lab_echo(args)
    res = tune(train, test, out, budget=budget, trials=args.trials, search=search,
               losses=[args.loss] if args.loss else None, factors=args.factors, factors_search=args.factors_search,
               max_epochs=args.epochs, K=args.k,
               seed=args.seed, workers=args.workers, reference=not args.no_reference, description=desc,
               plot=not args.no_plot, echo=echo)
    return _lab_report(out, res.best, "trial")


def _cmd_lab(args: argparse.Namespace) -> int:
    search = _lab_search(args)
    if search != "grid":
        return _cmd_lab_tune(args, search)
    for dest, (_, default) in _LAB_GRID_ONLY.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    if args.epochs is None:
        args.epochs = 20
    from .lab import run_lab

    check_loss(args.model, args.loss)
    if args.factors_search:
        raise CLIError("--factors-search applies to the tuner (leave out --search grid and the grid options)")
    if args.loss == "ials":
        raise CLIError("--loss ials has no sampler to sweep: the grid varies negatives; tune iALS with the tuner "
                       "(leave out --search grid and the grid options)")
    out, train, test, desc = _prepare_lab(args)
    echo = _lab_echo(args)
    res = run_lab(
        train, test, out=out, model=args.model, loss=args.loss, alphas=args.alphas, ks=args.ks,
        exclusion=args.exclusion, dns=args.dns, in_batch=not args.no_in_batch, epochs=args.epochs,
        factors=args.factors, lr=args.lr, reg=args.reg, K=args.k, budget=args.budget, seed=args.seed,
        workers=args.workers, description=desc, plot=not args.no_plot, echo=echo, schedules=not args.no_schedules,
    )
    return _lab_report(out, res.best, "run")


# ---------------------------------------------------------------- parser
def _fmt() -> type:
    return argparse.RawDescriptionHelpFormatter


def _negatives_arg(text: str) -> int | str:
    """``--negatives``: a positive integer, a START:END[:linear|exp] schedule over the epochs, or "all"
    (mf: every item, the exact full softmax)."""
    if text == "all" or ":" in text:
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'all' (or a schedule START:END[:linear|exp]), got {text!r}") from None


def _number_or_schedule(text: str) -> float | str:
    """A number, or a START:END[:linear|exp] schedule (checked once --epochs is known)."""
    if ":" in text:
        return text
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or START:END[:linear|exp], got {text!r}") from None
    if not np.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return x


def add_model_args(p: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    d = dict(factors=64, epochs=20, lr=None, negatives=5)
    d.update(defaults or {})
    g = p.add_argument_group("model")
    g.add_argument("--factors", "--dim", type=_positive_int, default=d["factors"], help="embedding dimension (default %(default)s)")
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"training epochs (default {d['epochs']}; mf without loss, sampler or SGD options: iALS's 8)")
    g.add_argument("--lr", type=_positive_float, default=d["lr"],
                   help="learning rate (default: the model's; word2vec/item2vec: the starting alpha, 0.025)")
    g.add_argument("--reg", type=float, default=None, help="L2 regularisation (mf; default: the model's)")
    g.add_argument("--loss", default=None, choices=list(MF_LOSSES) + ["sgns"],
                   help="mf: ials (the default when no sampler or SGD option is given: every unseen item a weighted "
                        "negative, alternating least squares), bpr (the default otherwise), warp (LightFM's WARP, "
                        "numba), bce, nce (noise-contrastive: BCE with logits minus log(k q)), softmax or ccl; "
                        "word2vec, item2vec: sgns (default) or nce")
    g.add_argument("--window", type=_positive_int, default=None, help="context window (word2vec, item2vec; default 5)")
    g.add_argument("--min-count", type=_positive_int, default=None, help="word2vec: drop words seen fewer times (default 5)")
    g.add_argument("--sample", type=float, default=None,
                   help="word2vec, item2vec: frequent-token subsampling threshold (default 1e-3)")
    g.add_argument("--cbow", action="store_true", help="word2vec, item2vec: CBOW instead of skip-gram")
    g.add_argument("--batch-size", type=_positive_int, default=None, help="mini-batch size of the torch paths")
    g.add_argument("--workers", type=_positive_int, default=2, help="CPU threads (default 2)")
    g.add_argument("--device", default="cpu", help="torch device of the torch paths: cpu (default) or cuda")
    g.add_argument("--lr-decay", choices=["linear"], default=None, help="mf: decay lr linearly to 0 over the epochs")
    g.add_argument("--batching", choices=["pairs", "users"], default=None,
                   help="mf torch losses: batches of pairs (default) or of users with all their positives, "
                        "shared negatives scored once per user (softmax/ccl)")
    g.add_argument("--score", choices=["dot", "cosine"], default=None, help="mf scores (ccl is always cosine)")
    g.add_argument("--temperature", type=_number_or_schedule, default=None,
                   help="mf softmax temperature (default 1), or a schedule, e.g. 1:0.1:exp")
    g.add_argument("--margin", type=float, default=None, help="mf ccl margin (default 0.9)")
    g.add_argument("--negative-weight", type=float, default=None, help="mf ccl/bce negative weight")
    g.add_argument("--init-std", type=_positive_float, default=None, help="mf initialisation std (default 0.1)")
    g.add_argument("--average-epochs", type=int, default=None, metavar="K",
                   help="mf: end with the average of the factors after each of the last K epochs")
    g.add_argument("--unobserved-ratio", type=_positive_float, default=None, metavar="R",
                   help="mf ials: every unobserved item weighs R x the mean observed weight / items (default 10)")
    g.add_argument("--nu", type=float, default=None,
                   help="mf ials: reg scaled by each row's total weight to this power (default 1; 0: plain reg)")
    g.add_argument("--history-weight", type=float, default=None, metavar="H",
                   help="mf torch: user = (1-H) * own embedding + H * W @ mean of its history's items (SimpleX)")
    s = p.add_argument_group("negative sampling")
    s.add_argument("--ns-exponent", type=_number_or_schedule, default=None,
                   help="popularity^alpha proposal (1 = frequency, 0 = uniform, <0 favours rare; default 0.75), or a "
                        "schedule over the epochs, e.g. 1:0:linear")
    s.add_argument("--negatives", type=_negatives_arg, default=None,
                   help=f"negatives per positive, or per batch when shared (default {d['negatives']}); a schedule over the "
                        "epochs, e.g. 1:20:linear; mf also takes 'all'")
    s.add_argument("--exclude-seen", dest="exclude_seen", action="store_true", default=None,
                   help="mf, item2vec: never a negative the user has seen (the default; item2vec: from the user's own history)")
    s.add_argument("--no-exclude-seen", dest="exclude_seen", action="store_false", help="mf, item2vec: allow seen items as negatives")
    s.add_argument("--hard", default=None, metavar="dns:M",
                   help="dynamic hard negatives: best of M candidates (mf, item2vec)")
    s.add_argument("--dns-pool", type=_positive_int, default=None, metavar="P",
                   help="mf bpr: draw and score P candidates once per user, pick the M DNS candidates from them")
    s.add_argument("--in-batch", action="store_true", help="mf torch: in-batch negatives with logQ correction (softmax/bpr)")
    s.add_argument("--mixed", action="store_true",
                   help="mf torch: mixed negatives, the batch's positives plus --negatives proposal items shared by the "
                        "batch, each logQ-corrected by its source (Yang et al. 2020)")


def _common_args(p: argparse.ArgumentParser, default: Any) -> None:
    """-v/-q, accepted before and after the subcommand (the subcommand's copy does not reset the main one)."""
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress at INFO level")
    p.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress bars or progress lines")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="recneg", description="Negative sampling for recommenders and embeddings.",
                epilog="Run `recneg demo` for a one-minute tour; `recneg CMD --help` for each command.")
    p.add_argument("--version", action="version", version=f"recneg {__version__}")
    _common_args(p, False)
    common = argparse.ArgumentParser(add_help=False)
    _common_args(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], formatter_class=_fmt(), **kw)

    force_help = "replace --out even when it is not a folder recneg wrote (a file, or a folder of yours): it is deleted"
    d = add("demo", help="train item2vec and BPR on the bundled synthetic data and compare them",
            description="Build the bundled synthetic dataset (no downloads), train item2vec and BPR,\n"
                        "evaluate full-ranking Recall@20/NDCG@20 against most-popular, and show neighbours.\n\n"
                        "Examples:\n  recneg demo\n  recneg demo --users 500 --items 300")
    d.add_argument("--users", type=_positive_int, default=3000, help="synthetic users (default %(default)s)")
    d.add_argument("--items", type=_positive_int, default=1500, help="synthetic items (default %(default)s)")
    d.add_argument("--clusters", type=_positive_int, default=12, help="planted item clusters (default %(default)s)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    d.set_defaults(func=_cmd_demo)

    t = add("train", help="train word2vec, item2vec or mf and write a model folder",
            description="Train a model and write a model folder (atomically) with meta.json, the model,\n"
                        "the train/test split, and for vectors a word2vec text file.\n\n"
                        "--out may be a new path, an empty folder or a model folder recneg wrote (it is\n"
                        "replaced only once training succeeded); anything else is refused unless --force.\n\nExamples:\n"
                        "  recneg train mf --lightgcn data/gowalla --loss bpr --ns-exponent 0.5 --out runs/bpr\n"
                        "  recneg train mf --csv events.csv --user-col uid --item-col sku --hard dns:10 --out runs/dns\n"
                        "  recneg train mf --lightgcn data/gowalla --loss nce --negatives 4 --ns-exponent 0.75 --out runs/nce\n"
                        "  torchrun --nproc_per_node=2 -m recneg train mf --lightgcn data/gowalla --loss softmax "
                        "--negatives 1024 --batch-size 1024 --out runs/dp   (data-parallel; --batch-size per process)\n"
                        "  recneg train item2vec --movielens 100k --movielens-path ml-100k --split leave-last-out --out runs/i2v\n"
                        "  recneg train word2vec --corpus text8.gz --min-count 5 --out runs/w2v\n"
                        "  recneg train word2vec --corpus text8.gz --loss nce --out runs/w2v-nce")
    t.add_argument("kind", choices=MODEL_KINDS, help="what to train: word2vec (text), item2vec or mf (interactions)")
    t.add_argument("--out", required=True, help="model folder to write (new, empty, or an earlier model folder)")
    t.add_argument("--force", action="store_true", help=force_help)
    t.add_argument("--no-eval", action="store_true", help="skip evaluating on the held-out split")
    t.add_argument("--plot", action="store_true",
                   help="also write training.png (loss, and for mf test recall@20, per epoch) and sampler.png "
                        "(sampled vs target negatives); needs matplotlib")
    add_data_args(t, corpus=True)
    add_model_args(t)
    t.set_defaults(func=_cmd_train)

    e = add("evaluate", help="full-ranking metrics of a model folder",
            description="Evaluate a model folder on its stored test split (or --test FILE), training items masked.\n\n"
                        "Examples:\n  recneg evaluate runs/bpr --k 10 20 --json metrics.json\n"
                        "  recneg evaluate runs/w2v --analogies questions-words.txt --word-pairs wordsim353.tsv")
    e.add_argument("model", help="model folder written by `recneg train`")
    e.add_argument("--test", help="CSV/parquet of held-out interactions (ids as in training)")
    e.add_argument("--user-col", default="user", help="user id column of --test (default: user)")
    e.add_argument("--item-col", default="item", help="item id column of --test (default: item)")
    e.add_argument("--k", type=_positive_int, nargs="+", default=[10, 20], help="cut-offs (default 10 20)")
    e.add_argument("--json", help="also write the metrics to this JSON file (a new file, or one evaluate wrote)")
    e.add_argument("--force", action="store_true", help="replace --json even when recneg did not write it")
    e.add_argument("--analogies", help="word2vec: questions-words.txt-format file")
    e.add_argument("--word-pairs", help="word2vec: wordsim353-format file")
    e.add_argument("--restrict-vocab", type=_positive_int, default=30000,
                   help="word2vec analogies: search answers among the N most frequent words (default %(default)s)")
    e.set_defaults(func=_cmd_evaluate)

    s = add("similar", help="nearest neighbours of an item or word",
            description="Show the nearest neighbours of ITEM (an original item id, or a word).\n\n"
                        "Examples:\n  recneg similar runs/i2v 50\n  recneg similar runs/w2v king -n 5")
    s.add_argument("model", help="model folder written by `recneg train`")
    s.add_argument("item", help="an item id as in the training data (or a word, for word2vec)")
    s.add_argument("-n", type=_positive_int, default=10, help="how many neighbours (default %(default)s)")
    s.set_defaults(func=_cmd_similar)

    lab = add("lab", help="tune MF (loss, negatives, lr/reg, epochs) within a time budget, or sweep one loss's sampling",
              description="The tuner (default): search losses (bpr, softmax, ccl; nce and ials where installed),\n"
                          "negatives (k 1..2048, shared or per example, alpha, exclusion, DNS, in-batch, mixed,\n"
                          "schedules), lr/reg and epochs with early stopping, within --budget seconds, by TPE\n"
                          "(optuna) or random sampling, pruning by successive halving on trial seconds; refit the\n"
                          "winner on the full train split and report it on test beside implicit's ALS and BPR\n"
                          "(when implicit is installed). --search grid: sweep alpha, k, exclusion, DNS,\n"
                          "in-batch+logQ and alpha/k schedules for one model/loss.\n"
                          "Both choose on a validation split carved from train, report only the winner on test, and\n"
                          "write lab.csv, lab.md, lab.png, best.json and meta.json to --out, keeping the table\n"
                          "on disk after every run. A line per run goes to stderr (-q: none); the table, the\n"
                          "recommendation and the paths written are printed at the end.\n\nExamples:\n"
                          "  recneg lab --movielens 100k --movielens-path ml-100k --budget 300 --out runs/lab\n"
                          "  recneg lab --lightgcn data/gowalla --budget 600 --search halving --out runs/lab\n"
                          "  recneg lab --lightgcn data/gowalla --alphas 0 0.5 1 --ks 5 20 --budget 900 --out runs/lab")
    lab.add_argument("--out", required=True, help="lab folder to write (new, empty, or an earlier lab folder)")
    lab.add_argument("--force", action="store_true", help=force_help)
    lab.add_argument("--model", default="mf", choices=["mf", "item2vec"], help="model to sweep (default mf)")
    lab.add_argument("--loss", default=None, choices=["bpr", "ials", "bce", "nce", "softmax", "ccl", "sgns"],
                     help="tuner: search this loss only (default: bpr, ials, softmax, ccl, nce); grid, mf: bpr "
                          "(default), bce, nce, softmax or ccl; item2vec: sgns (default) or nce")
    lab.add_argument("--alphas", type=float, nargs="+", default=[-0.5, 0.0, 0.5, 0.75, 1.0],
                     help="popularity exponents to try (default -0.5 0 0.5 0.75 1)")
    lab.add_argument("--ks", type=_positive_int, nargs="+", default=[1, 5, 20, 100],
                     help="negatives per positive to try (default 1 5 20 100)")
    lab.add_argument("--exclusion", choices=["both", "on", "off"], default="both",
                     help="exclude the user's seen items from negatives: try both (default), or only on/off")
    lab.add_argument("--dns", type=int, default=10, help="mf: DNS candidates (0 disables the DNS run; default 10)")
    lab.add_argument("--no-in-batch", action="store_true", help="mf: skip the in-batch + logQ run")
    lab.add_argument("--no-schedules", action="store_true",
                     help="skip stage 6 (the best setting with alpha, then k, scheduled over the epochs)")
    lab.add_argument("--epochs", type=_positive_int, default=20,
                     help="grid: epochs per run (default 20); tuner: the most epochs a trial may run (default per "
                          "backend: 200 numba SGD, 40 torch, 20 ALS; trials stop early on validation)")
    lab.add_argument("--factors", type=_positive_int, default=64, help="embedding dimension (default 64)")
    lab.add_argument("--factors-search", type=_positive_int, nargs="+", default=None, metavar="D",
                     help="tuner: more embedding sizes to search beside --factors (e.g. 128 256 512 1024; larger d "
                          "often pays, most for iALS); default: d fixed")
    lab.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: the model's)")
    lab.add_argument("--reg", type=float, default=None, help="mf L2 regularisation (default: the model's)")
    lab.add_argument("--k", type=_positive_int, default=20, help="metric cut-off (default 20)")
    lab.add_argument("--budget", type=_positive_float, default=None,
                     help="wall-time budget in seconds; the first run always runs. grid: runs not started in time "
                          "are skipped; tuner (default 300 unless --trials): no trial starts once the time left is "
                          "below a typical trial's, a running one stops at the deadline; the refit of the winner "
                          "comes after it")
    lab.add_argument("--workers", type=_positive_int, default=2, help="CPU threads (default 2)")
    lab.add_argument("--no-plot", action="store_true", help="do not write lab.png")
    lab.add_argument("--search", choices=["auto", "tpe", "halving", "grid"], default="auto",
                     help="tpe: optuna's TPE (pip install 'recneg[tune]'); halving: random sampling (no extra "
                          "dependency); both prune by successive halving on trial seconds; grid: the staged sweep "
                          "of one loss. auto (default): tpe, or halving without optuna; grid for --model item2vec or "
                          "when a grid option (--alphas --ks --exclusion --dns --no-in-batch --no-schedules --lr "
                          "--reg) is given. --loss L limits the tuner to loss L")
    lab.add_argument("--trials", type=_positive_int, default=None,
                     help="tuner: the most trials to run (default: as many as --budget allows)")
    lab.add_argument("--no-reference", action="store_true",
                     help="tuner: no reference rows (implicit's ALS and BPR on test, when implicit is installed)")
    # the grid's options default to None, so that the tuner can tell them given (filled in by _cmd_lab)
    lab.set_defaults(alphas=None, ks=None, exclusion=None, dns=None, epochs=None)
    add_data_args(lab)
    lab.set_defaults(func=_cmd_lab)
    return p


# ---------------------------------------------------------------- entry point
def _one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(str(text).split())


def _interrupted(args: argparse.Namespace) -> str:
    if args.command == "train":
        return f"previous model kept at {args.out}" if getattr(args, "_out_existed", False) else "nothing written"
    if args.command == "lab" and getattr(args, "_lab_out", None) is not None and (args._lab_out / "lab.csv").exists():
        return f"the runs finished so far are in {args._lab_out / 'lab.csv'}"
    return "nothing written"


def _close_progress_bars() -> None:
    """Close any progress bar an interrupted or failed command left open and blank its line, so the one
    error line starts at the left margin (a Ctrl-C inside tqdm's own set-up leaves a bar it cannot clear)."""
    import tqdm

    bars = list(getattr(tqdm.tqdm, "_instances", ()))
    for bar in bars:
        bar.close()
    if bars:
        sys.stderr.write("\r" + " " * (shutil.get_terminal_size().columns - 1) + "\r")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 internal error, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def fail(message: Any, code: int) -> int:
        _close_progress_bars()
        print(f"recneg {args.command}: error: {_one_line(message)}", file=sys.stderr)
        return code

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _close_progress_bars()
        print(f"recneg {args.command}: interrupted; {_interrupted(args)}", file=sys.stderr)
        return 130
    except CLIError as e:
        return fail(e, 2)
    except (ValueError, TypeError, KeyError, OSError, EOFError, ImportError) as e:
        return fail(e.args[0] if isinstance(e, KeyError) and e.args else e, 2)
    except Exception as e:  # a bug, not bad input: still one line, the traceback with -v
        if args.verbose:
            logger.exception("traceback")
        return fail(f"internal error {type(e).__name__}: {e} (rerun with -v for the traceback)", 1)
    finally:
        d = sys.modules.get("torch.distributed")  # a torchrun job leaves its process group
        if d is not None and d.is_available() and d.is_initialized():
            d.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``recneg`` command line."""
from __future__ import annotations

import argparse
import logging
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from .data import split_random
    from .datasets import make_synthetic

    data = make_synthetic(n_users=args.users, n_items=args.items, n_clusters=args.clusters, seed=args.seed)
    train, test = split_random(data.interactions, test_fraction=0.2, seed=args.seed)
    print(f"synthetic data: {data.interactions!r}")
    print(f"train: {train!r}\ntest:  {test!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recneg", description="Negative sampling for recommenders and embeddings.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run the bundled synthetic demo (no downloads)",
                       description="Build the bundled synthetic dataset and split it.\n\nExample: recneg demo --users 500",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--users", type=int, default=2000)
    d.add_argument("--items", type=int, default=1000)
    d.add_argument("--clusters", type=int, default=10)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as e:
        print(f"recneg {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

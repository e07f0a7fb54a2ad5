"""The ``noisedim`` command line: ``python -m noisedim SUBCOMMAND ...``.

Subcommands live in ``SUBCOMMANDS``: name -> ``Subcommand(help, add_arguments, run)``.
``add_arguments`` fills the subcommand's argparse parser and ``run`` takes the parsed
arguments and returns the exit status. Another module adds a subcommand with
``register_subcommand`` before ``main`` runs. Results go to stdout, logs to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

from noisedim.logs import setup_logging

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subcommand:
    """One subcommand: its one-line help, its argument setup and its action."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


def register_subcommand(name: str, subcommand: Subcommand) -> Subcommand:
    """Add ``subcommand`` under ``name``, or raise ValueError if the name is taken."""
    if name in SUBCOMMANDS:
        raise ValueError(f"subcommand {name!r} is already registered; choose another name")
    SUBCOMMANDS[name] = subcommand
    return subcommand


# --------------------------------------------------------------------------------------------
# entropy


def _add_entropy_arguments(parser: argparse.ArgumentParser) -> None:
    from noisedim.entropy import FLOAT_FORMATS, NOISE_LAWS

    parser.add_argument("--dtype", default="float32", choices=list(FLOAT_FORMATS),
                        help="float format the noise is rounded to (default: float32)")
    parser.add_argument("--law", default="normal", choices=list(NOISE_LAWS),
                        help="noise law before rounding (default: normal, N(0, 1))")
    parser.add_argument("--method", choices=["exact", "integral"], default=None,
                        help="summation method (default: exact for float16 and bfloat16, "
                             "integral for float32 and float64)")
    parser.add_argument("--table", action="store_true",
                        help="print the entropy of every dtype and law instead")
    parser.add_argument("--candidates", action="store_true",
                        help="also print the conventions compared with the paper's 26.55 bits")


def _run_entropy(args: argparse.Namespace) -> int:
    from noisedim import entropy
    from noisedim.compression import to_markdown

    if args.table:
        print(to_markdown(entropy.law_entropy_table(), float_digits=9))
    else:
        method = args.method or entropy.default_method(args.dtype)
        bits = entropy.float_noise_entropy(args.dtype, args.law, method)
        print(f"{args.law} noise rounded to {args.dtype}: {bits:.9f} bits per dimension "
              f"({method} method)")
        difference = bits - entropy.PAPER_FLOAT32_NORMAL_BITS
        if (args.dtype, args.law) == ("float32", "normal"):
            print(f"paper's value for float32 normal noise: "
                  f"{entropy.PAPER_FLOAT32_NORMAL_BITS:.2f} bits per dimension "
                  f"(exact minus paper: {difference:+.4f} bits)")
        else:
            print(f"paper's value applies to float32 normal noise only: "
                  f"{entropy.PAPER_FLOAT32_NORMAL_BITS:.2f} bits per dimension")
    if args.candidates:
        print()
        print(to_markdown(entropy.paper_constant_candidates(), float_digits=6))
    return 0


# --------------------------------------------------------------------------------------------
# bitrates


def _add_bitrates_arguments(parser: argparse.ArgumentParser) -> None:
    from noisedim.compression import CODECS

    parser.add_argument("dataset", help="dataset directory (dataset.json and .npz shards)")
    parser.add_argument("--split", default="train", help="split to measure (default: train)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="measure only the first N images (default: all)")
    parser.add_argument("--codecs", nargs="+", default=None, choices=list(CODECS),
                        help="codecs to run (default: all)")


def _run_bitrates(args: argparse.Namespace) -> int:
    from noisedim.compression import dataset_bitrates, to_markdown
    from noisedim.data.format import load_split

    images, _ = load_split(args.dataset, args.split)
    table = dataset_bitrates(images, codecs=args.codecs, max_images=args.max_images)
    print(to_markdown(table))
    return 0


register_subcommand("entropy", Subcommand(
    help="exact entropy of noise rounded to a float format, in bits per dimension",
    add_arguments=_add_entropy_arguments, run=_run_entropy))
register_subcommand("bitrates", Subcommand(
    help="lossless PNG, WebP and JPEG XL bitrates of a dataset split, in bits per dimension",
    add_arguments=_add_bitrates_arguments, run=_run_bitrates))


# --------------------------------------------------------------------------------------------
# Entry point.


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with one subparser per entry of ``SUBCOMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="noisedim",
        description="Noise dimension of GANs: noise entropy, dataset bitrates and the bound "
                    "on the noise dimension.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log progress (INFO) to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, subcommand in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=subcommand.help,
                                          description=subcommand.help)
        subcommand.add_arguments(subparser)
        subparser.set_defaults(run=subcommand.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]), run the subcommand and return its exit status.

    A ValueError (invalid input, which includes a missing or corrupt dataset) prints
    ``noisedim: error: ...`` to stderr and returns 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2

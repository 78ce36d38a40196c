"""Command line: ``python -m autograder release [LAB ...] [--check]``."""

from __future__ import annotations

import argparse
import logging
import sys

from autograder.release import ReleaseError, check_released, release


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description="The grading tools of the labkit course, built on nbgrader."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser(
        "release",
        help="write labs/<lab>/ from solutions/<lab>/ with nbgrader",
        description="Generate the student version of each lab: solutions and hidden tests "
        "removed, outputs cleared. Without LAB names, every lab in solutions/ is released.",
    )
    release.add_argument("labs", nargs="*", metavar="LAB", help="a lab name, e.g. lab1-mnist")
    release.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list where labs/ differs from a fresh release and exit 1 if it does",
    )
    release.set_defaults(run=run_release)
    return parser


def run_release(args: argparse.Namespace) -> int:
    if not args.check:
        for folder in release(args.labs or None):
            print(f"released {folder}")
        return 0
    if args.labs:
        print("--check compares every lab; leave out the LAB names.", file=sys.stderr)
        return 2
    problems = check_released()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s) in labs/." if problems else "labs/ is up to date.")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ReleaseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

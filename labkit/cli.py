"""The ``labkit`` command: ``labkit data fetch|verify|info`` and ``labkit doctor``."""

from __future__ import annotations

import argparse
import sys


def _data_fetch(args) -> int:
    from labkit import data
    from labkit.data import loader
    from labkit.data.inventory import registered_files

    status = 0
    for name in args.names:
        dataset = data.spec(name)
        try:
            files = loader.resolve(dataset, registered_files(dataset), allow_download=True)
        except data.DataError as exc:
            print(f"{name}: FAILED\n{exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: ok")
        for verified in files.values():
            print(f"  {verified.path}  ({verified.how})")
    return status


def _data_verify(args) -> int:
    from labkit.data.inventory import format_table, verify_all

    checks = verify_all()
    if not checks:
        print("No dataset files found. Set LABKIT_DATA_DIR or run `labkit data fetch NAME`.")
        return 1
    rows = [[c.dataset, c.file, c.origin, "ok" if c.ok else "BAD", c.detail if c.ok else ""]
            for c in checks]
    print(format_table(rows, ["dataset", "file", "where", "status", "verified by"]))
    bad = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(bad)} file(s) verified, {len(bad)} bad.")
    for check in bad:
        print(f"BAD {check.path}: {check.detail}", file=sys.stderr)
    return 1 if bad else 0


def _data_info(args) -> int:
    from labkit import config
    from labkit.data import DATASETS
    from labkit.data.inventory import availability, format_table

    print(f"data dir (LABKIT_DATA_DIR): {config.data_dir() or '(not set)'}")
    print(f"cache dir:                  {config.cache_dir()}")
    print(f"downloads:                  {'off (LABKIT_OFFLINE=1)' if config.offline() else 'on'}\n")
    rows = []
    for spec in DATASETS.values():
        where = availability(spec)
        rows.append([spec.name, spec.n_classes, f"{spec.counts['train']:,}", f"{spec.counts['test']:,}",
                     where["train"], where["test"], spec.title])
    print(format_table(rows, ["name", "classes", "train", "test", "train files", "test files", "title"]))
    partition = config.env_flag("LABKIT_EMNIST_OFFLINE_PARTITION")
    print(
        "\nEMNIST offline partition (emnist-bymerge, emnist-byclass): "
        + ("opted in (LABKIT_EMNIST_OFFLINE_PARTITION=1): used where the official train files are missing"
           if partition else "off; set LABKIT_EMNIST_OFFLINE_PARTITION=1 to use it where the official "
                             "train files are missing")
    )
    return 0


def _doctor(args) -> int:
    from labkit.doctor import report

    print(report())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="datasets: fetch, verify, info")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser("fetch", help="download and verify datasets into the cache")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.set_defaults(run=_data_fetch)
    verify = data_commands.add_parser("verify", help="hash-check every dataset file labkit can find")
    verify.set_defaults(run=_data_verify)
    info = data_commands.add_parser("info", help="list datasets and where their files are")
    info.set_defaults(run=_data_info)

    doctor = commands.add_parser("doctor", help="print the environment labkit sees")
    doctor.set_defaults(run=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "data" and getattr(args, "names", None):
        from labkit.data import names

        unknown = [n for n in args.names if n not in names()]
        if unknown:
            print(f"unknown dataset(s): {', '.join(unknown)}; choose from {', '.join(names())}",
                  file=sys.stderr)
            return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

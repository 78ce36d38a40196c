"""The ``labkit`` command: ``labkit data fetch|verify|info``, ``labkit doctor``, ``labkit course`` and
``labkit check-submission``."""

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


def _course(args) -> int:
    from labkit import course

    if args.student_id is not None:
        try:
            path = course.set_student_id(args.student_id.strip())
        except ValueError as error:
            print(error, file=sys.stderr)
            return 2
        print(f"student id {args.student_id.strip()} saved in {path}; the runs you start from now on carry it.")
    elif args.forget_student_id:
        print("student id removed" if course.forget_student_id() else "no student id was saved")
    try:
        current = course.current()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"course:     {current.name}  ({current.name_from})")
    print(f"student id: {current.student_id or '(none)'}  ({current.student_id_from})")
    return 0


def _check_submission(args) -> int:
    from labkit.check.submission import check_submission

    report = check_submission(args.notebook, profile=args.profile, load=not args.no_load)
    print(report.message().text(colour=sys.stdout.isatty()))
    return 0 if report.passed else 1


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

    course = commands.add_parser("course", help="show the course and your student id; set your student id")
    chosen = course.add_mutually_exclusive_group()
    chosen.add_argument("--student-id", metavar="ID",
                        help="save your student id (the name of your submission folder): your Comet runs carry it")
    chosen.add_argument("--forget-student-id", action="store_true", help="remove the saved student id")
    course.set_defaults(run=_course)

    check = commands.add_parser(
        "check-submission", help="check a lab folder before hand-in, as the grader will read it (exit 1: not ready)")
    check.add_argument("notebook", metavar="NOTEBOOK", help="the lab's notebook, e.g. work/lab1-mnist/lab1-mnist.ipynb")
    check.add_argument("--profile", choices=("full", "quick"), default="full",
                       help="the profile whose targets the grader applies (default full, the course's)")
    check.add_argument("--no-load", action="store_true",
                       help="check the model files' structure without loading them with Keras or PyTorch")
    check.set_defaults(run=_check_submission)
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

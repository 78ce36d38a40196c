"""Command line: ``python -m autograder release|grade|comet-upload ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pathlib import Path

from autograder.release import ReleaseError, check_released, release
from autograder.sandbox import SandboxUnavailable

GRADED = 0
"""``grade``'s exit status when every submission was graded (whatever its score)."""
GRADER_FAILED = 1
"""... when the grader itself failed: Python's own status for an exception nothing caught."""
USAGE_ERROR = 2
"""... when nothing could be graded: a wrong folder, lab or option (also ``comet-upload``'s)."""
SUBMISSION_ERRORS = 3
"""... when the batch completed, but some submissions ended with the status ``error`` or were refused."""


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
    grade = commands.add_parser(
        "grade",
        help="grade every SUBMISSIONS/<student>/<LAB>/ in sandboxes; write grades, feedback, gradebook",
        description="Grade a lab's submissions: each model is loaded and measured in a sandbox, the "
        "notebook is run in a sandbox to check its training step. Writes OUT/grades.csv, "
        "OUT/feedback/<student>/<LAB>.html, OUT/results/ (one JSON per submission; a rerun "
        "skips submissions graded already) and OUT/gradebook.db (nbgrader's). Nothing a submission "
        "holds stops the batch: each student gets a row in grades.csv, or a refused line in the summary. "
        f"Exit status: {GRADED} every submission graded; {SUBMISSION_ERRORS} every output written, but some "
        "submissions ended with the status error, or student folders were refused (the summary "
        f"names them); {USAGE_ERROR} nothing graded: a wrong folder, lab or option; "
        f"{GRADER_FAILED} the grader itself failed (a traceback says where).",
    )
    grade.add_argument("lab", metavar="LAB", help="the lab to grade, e.g. lab1-mnist")
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", type=Path,
                       help="holds one <student_id>/<LAB>/ folder per student")
    grade.add_argument("--out", required=True, type=Path, metavar="OUT_DIR", help="where results go")
    grade.add_argument("--workers", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--profile", choices=("full", "quick"), default="full",
                       help="whose accuracy targets apply (default full, the course's)")
    grade.add_argument("--evaluation", type=Path, metavar="DIR", default=None,
                       help="score the models on DIR/<LAB>.npz, the instructor's private images and labels "
                       "(see autograder.evaluation_sets), instead of the lab's default test images")
    grade.set_defaults(run=run_grade)
    upload = commands.add_parser(
        "comet-upload",
        help="upload the Comet archives grading kept in OUT_DIR, with comet upload",
        description="Upload each student's Comet offline archive that grading kept in "
        "OUT_DIR/comet/<LAB>/<student>/, one `comet upload` per archive. The API key comes from "
        "COMET_API_KEY or ~/.comet.config (`comet login`), never from the command line. Each outcome "
        "is printed and recorded in OUT_DIR/comet-upload.csv; a rerun skips archives uploaded before. "
        "Exit status: 0 all uploaded, 1 some failed, 2 no key or nothing graded.",
    )
    upload.add_argument("lab", metavar="LAB", help="the lab whose archives to upload, e.g. lab1-mnist")
    upload.add_argument("out", metavar="OUT_DIR", type=Path, help="the folder `grade --out` wrote")
    upload.add_argument("--dry-run", action="store_true", help="list what would be uploaded; upload nothing")
    upload.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="the time one archive may take before its upload is stopped (default 300)")
    upload.set_defaults(run=run_comet_upload)
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


def run_grade(args: argparse.Namespace) -> int:
    # The grader builds Keras probes of its own: keep TensorFlow's start-up lines out of the summary.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from autograder import comet_upload
    from autograder.grading import grade
    from autograder.options import GradingOptions

    def show(result, reused):
        print(f"{result.student_id:<20} {result.score:g}/{result.max_score:g} {result.status}"
              f"{' (unchanged, not regraded)' if reused else f' in {result.seconds:.0f} s'}", flush=True)

    options = GradingOptions(profile=args.profile, evaluation_dir=args.evaluation)
    refused: list[str] = []
    results = grade(args.lab, args.submissions, args.out, workers=args.workers, options=options,
                    progress=show, on_refused=refused.append)  # a wrong --evaluation file: EvaluationSetError
    errors = [result.student_id for result in results if result.status == "error"]
    print(f"{len(results)} submission(s) graded: {args.out / 'grades.csv'}, feedback in {args.out / 'feedback'}")
    if errors:
        print(f"{len(errors)} submission(s) ended with the status error, the grader's failure, not the "
              f"student's (see grader_error in {args.out / 'results' / args.lab}/<student>.json; a rerun "
              f"grades them again): {', '.join(errors)}")
    if refused:
        print(f"{len(refused)} student folder(s) refused, not graded: " + "; ".join(refused))
    kept = comet_upload.kept_root(args.out, args.lab)
    if kept.is_dir():
        print(f"Comet archives kept in {kept}: upload them with "
              f"`python -m autograder comet-upload {args.lab} {args.out}`")
    return SUBMISSION_ERRORS if errors or refused else GRADED


def run_comet_upload(args: argparse.Namespace) -> int:
    from autograder import comet_upload

    timeout = comet_upload.TIMEOUT_S if args.timeout is None else args.timeout
    if timeout <= 0:
        print(f"--timeout {args.timeout:g}: give the seconds one archive may take, e.g. --timeout 300.",
              file=sys.stderr)
        return 2
    try:
        outcomes = comet_upload.upload(args.lab, args.out, dry_run=args.dry_run, timeout_s=timeout,
                                       report=lambda line: print(line, flush=True))
    except comet_upload.NoApiKey as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    failed = sum(outcome.status != "uploaded" for outcome in outcomes)
    print(f"{len(outcomes) - failed} uploaded, {failed} failed in this run; "
          f"every outcome is in {args.out / comet_upload.LOG_NAME}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, ReleaseError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

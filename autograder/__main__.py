"""Command line: ``python -m autograder release|grade|export|dashboard|comet-upload ...``."""

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
        "skips submissions graded already), OUT/gradebook.db (nbgrader's) and OUT/dashboard/<LAB>.html (the "
        "class at a glance: scores, pass rates, flags). Nothing a submission "
        "holds stops the batch: each student gets a row in grades.csv, or a refused line in the summary. "
        f"Exit status: {GRADED} every submission graded; {SUBMISSION_ERRORS} every output written, but some "
        "submissions ended with the status error, or student folders were refused (the summary "
        f"names them); {USAGE_ERROR} nothing graded: a wrong folder, lab or option; "
        f"{GRADER_FAILED} the grader itself failed (a traceback says where).",
    )
    grade.add_argument("lab", metavar="LAB", help="the lab to grade, e.g. lab1-mnist")
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", type=Path,
                       help="holds one <student_id>/<LAB>/ folder per student (with --from: the course "
                       "directory, or the LMS's download, zip or folder)")
    grade.add_argument("--out", required=True, type=Path, metavar="OUT_DIR", help="where results go")
    grade.add_argument("--workers", type=int, default=None,
                       help="submissions graded at once on this machine (default 1); see --cluster for more machines")
    on_cluster = grade.add_argument_group("grading on a cluster (Dask; see docs/instructor-guide.md)")
    on_cluster.add_argument("--cluster", metavar="SPEC", default=None,
                            help="grade one task per submission on a Dask cluster: local:N (N worker processes on "
                            "this machine), tcp://HOST:PORT (the workers of a running `dask scheduler`, e.g. started "
                            "by `dask ssh`) or slurm (batch jobs of dask-jobqueue: --queue, --jobs)")
    on_cluster.add_argument("--queue", metavar="PARTITION", default=None, help="slurm: the partition the jobs go to")
    on_cluster.add_argument("--jobs", type=int, default=1, metavar="J", help="slurm: batch jobs to start (default 1)")
    on_cluster.add_argument("--workers-per-job", type=int, default=1, metavar="N",
                            help="slurm: single-threaded workers (cores) per job (default 1)")
    on_cluster.add_argument("--job-memory", metavar="MEM", default=None,
                            help="slurm: a job's memory, e.g. 16GiB (default 8GiB per worker, or jobqueue.yaml's)")
    on_cluster.add_argument("--walltime", metavar="HH:MM:SS", default=None,
                            help="slurm: a job's time limit (default 04:00:00, or jobqueue.yaml's)")
    on_cluster.add_argument("--scratch", type=Path, metavar="DIR", default=None,
                            help="where the batch's private copies and the grader's inputs go (default the system's "
                            "temporary folder); with workers on other hosts, a folder they all see at the same path")
    on_cluster.add_argument("--task-timeout", type=float, metavar="SECONDS", default=None,
                            help="seconds one try of a submission may take on a worker before it is stopped and "
                            "ends with the status error (default 3600)")
    grade.add_argument("--profile", choices=("full", "quick"), default="full",
                       help="whose accuracy targets apply (default full, the course's)")
    grade.add_argument("--evaluation", type=Path, metavar="DIR", default=None,
                       help="score the models on DIR/<LAB>.npz, the instructor's private images and labels "
                       "(see autograder.scoring.evaluation_sets), instead of the lab's default test images")
    grade.add_argument("--from", dest="source", choices=("folders", "nbgrader", "canvas", "moodle"),
                       default="folders",
                       help="what SUBMISSIONS_DIR is: folders (default), <student_id>/<LAB>/ folders; nbgrader, the "
                       "course directory after `nbgrader collect` (feedback is then written for `nbgrader "
                       "release_feedback`); canvas, Canvas's submissions.zip; moodle, Moodle's download of all "
                       "submissions. An LMS download is unpacked, safely, into OUT_DIR/imported/<LAB>/ "
                       "(see docs/instructor-guide.md)")
    grade.add_argument("--roster", type=Path, metavar="ROSTER.csv", default=None,
                       help="with --from canvas or moodle: grade each student under the roster's student_id, "
                       "found by its ID (Canvas) or Identifier (Moodle) column; without it, the LMS's own ids")
    grade.add_argument("--id-column", default="student_id", metavar="COLUMN",
                       help="with --roster: the column holding the id to grade under (default student_id)")
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
    export = commands.add_parser(
        "export",
        help="write a graded lab's grades as a Canvas, Moodle or roster CSV, joined to your LMS roster",
        description="Join OUT_DIR/results/<LAB>/ to ROSTER (your LMS's class list plus a student_id column, "
        "the submission folder names) and write the grades as Canvas's gradebook import (--format canvas), "
        "Moodle's grade import (moodle) or the roster with scores and parts (roster). Graded submissions "
        "with no roster row, roster students with no grade and scores that are not final (status error or "
        "incomplete) are listed in a report, printed and written beside the file. --upload canvas posts the "
        "grades through Canvas's API (canvasapi; token in CANVAS_API_TOKEN, address in CANVAS_API_URL); "
        "--dry-run prints the request instead. Exit status: 0 everything matched; 3 the file is written, but "
        "the report lists something; 2 nothing written: a wrong folder, lab, roster or option; 1 the upload "
        "failed.",
    )
    export.add_argument("lab", metavar="LAB", help="the graded lab, e.g. lab1-mnist")
    export.add_argument("out", metavar="OUT_DIR", type=Path, help="the folder `grade --out` wrote")
    export.add_argument("--roster", required=True, type=Path, metavar="ROSTER.csv",
                        help="your LMS's class list as CSV, with a student_id column added")
    export.add_argument("--format", required=True, choices=("canvas", "moodle", "roster"),
                        help="canvas: gradebook import; moodle: grade import; roster: the roster with scores")
    export.add_argument("--assignment", metavar="NAME", default=None,
                        help="the assignment's column name in the LMS (default LAB; Canvas: 'Name (id)' picks "
                        "an existing assignment by its id)")
    export.add_argument("--points-possible", type=float, default=None, metavar="N",
                        help="the assignment's points in the LMS: scores are scaled to N (default the lab's "
                        "maximum, unscaled)")
    export.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="where the CSV goes (default OUT_DIR/lms/<LAB>-<format>.csv); the report goes "
                        "beside it, FILE with .report.txt")
    export.add_argument("--id-column", default="student_id", metavar="COLUMN",
                        help="the roster column holding the submission folder names (default student_id)")
    export.add_argument("--upload", choices=("canvas",), default=None,
                        help="also post the grades through Canvas's API (needs canvasapi)")
    export.add_argument("--course-id", type=int, default=None, metavar="N", help="Canvas's course id, for --upload")
    export.add_argument("--assignment-id", type=int, default=None, metavar="M",
                        help="Canvas's assignment id, for --upload")
    export.add_argument("--dry-run", action="store_true",
                        help="with --upload: print the request it would send; send nothing")
    export.set_defaults(run=run_export)
    dashboard = commands.add_parser(
        "dashboard",
        help="write OUT_DIR/dashboard/<LAB>.html again from OUT_DIR/results/<LAB>/",
        description="Rebuild the class dashboard of a graded lab (grade writes it too): scores, pass rates, "
        "measured accuracies, flags and links to each feedback page, from OUT_DIR/results/<LAB>/, "
        "with the Comet flags of OUT_DIR/comet-review.csv. Exit status: 0 written, 2 no results of LAB.",
    )
    dashboard.add_argument("lab", metavar="LAB", help="the graded lab, e.g. lab1-mnist")
    dashboard.add_argument("out", metavar="OUT_DIR", type=Path, help="the folder `grade --out` wrote")
    dashboard.set_defaults(run=run_dashboard)
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
    from autograder.comet import upload as comet_upload
    from autograder.pipeline.grading import grade
    from autograder.pipeline.options import GradingOptions
    from autograder.reports.dashboard import page_path as dashboard_page

    bar = _ProgressBar(args.lab)

    def show(result, reused):
        bar.write(f"{result.student_id:<20} {result.score:g}/{result.max_score:g} {result.status}"
                  f"{' (unchanged, not regraded)' if reused else f' in {result.seconds:.0f} s'}", result.status)

    options = GradingOptions(profile=args.profile, evaluation_dir=args.evaluation)
    cluster = _cluster(args)
    if cluster is not None:  # Dask's own INFO lines (workers starting, clients connecting) stay out of the summary
        try:
            import distributed  # noqa: F401 - which sets its loggers' levels as it is imported
        except ImportError as error:
            raise ValueError(f"--cluster needs Dask, which labkit's grading extra installs (make install): {error}") \
                from error
        logging.getLogger("distributed").setLevel(logging.WARNING)
    refused: list[str] = []
    submissions_dir = _submissions_dir(args, refused)
    try:
        results = grade(args.lab, submissions_dir, args.out, workers=args.workers or 1, options=options,
                        progress=show, on_refused=refused.append, cluster=cluster,
                        on_start=bar.start)  # a wrong --evaluation file: EvaluationSetError
    finally:
        bar.close()
    if args.source == "nbgrader":
        from autograder.reports import nbgrader_feedback

        for line in nbgrader_feedback.write_course_feedback(args.submissions, args.out, args.lab, results):
            print(line)
    errors = [result.student_id for result in results if result.status == "error"]
    print(f"{len(results)} submission(s) graded: {args.out / 'grades.csv'}, feedback in {args.out / 'feedback'}, "
          f"the class at a glance in {dashboard_page(args.out, args.lab)}")
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


def _cluster(args: argparse.Namespace):
    """The cluster ``--cluster`` and its options name, or None for this machine's pool (ValueError: a wrong option)."""
    from autograder.pipeline import cluster

    if args.cluster is None:
        given = [option for option, value in (("--queue", args.queue), ("--jobs", args.jobs != 1),
                                              ("--workers-per-job", args.workers_per_job != 1),
                                              ("--job-memory", args.job_memory), ("--walltime", args.walltime),
                                              ("--scratch", args.scratch), ("--task-timeout", args.task_timeout))
                 if value]
        if given:
            raise ValueError(f"{', '.join(given)}: options of a cluster; add --cluster local:N, tcp://HOST:PORT "
                             "or slurm.")
        return None
    if args.workers is not None:
        raise ValueError("--workers sizes this machine's pool; with --cluster the cluster's workers grade "
                         "(--cluster local:N for N workers here).")
    return cluster.Cluster(args.cluster, queue=args.queue, jobs=args.jobs, workers_per_job=args.workers_per_job,
                           job_memory=args.job_memory, walltime=args.walltime, scratch=args.scratch,
                           task_timeout=cluster.TASK_TIMEOUT if args.task_timeout is None else args.task_timeout)


class _ProgressBar:
    """A tqdm bar of the batch on a terminal's stderr (done, failed, time left), each submission's line on stdout.

    Not on a pipe or a file (a log, a SLURM job's output): the lines alone, as before."""

    def __init__(self, lab: str):
        self.lab, self.bar, self.failed = lab, None, 0

    def start(self, submissions: int, dashboard: str | None) -> None:
        from tqdm import tqdm

        if dashboard:
            print(f"Dask dashboard: {dashboard}", flush=True)
        self.bar = tqdm(total=submissions, desc=self.lab, unit="submission", file=sys.stderr, mininterval=1.0,
                        disable=None)
        self.bar.set_postfix(failed=0)

    def write(self, line: str, status: str) -> None:
        if self.bar is None:
            print(line, flush=True)
            return
        self.bar.write(line, file=sys.stdout)
        sys.stdout.flush()
        self.failed += status == "error"
        self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _submissions_dir(args: argparse.Namespace, refused: list[str]) -> Path:
    """The folder of <student_id>/<LAB>/ folders that --from names: as given, nbgrader's submitted/, or an LMS
    download imported into OUT_DIR/imported/<LAB>/ (each student it refuses is added to ``refused``)."""
    if args.roster is not None and args.source not in ("canvas", "moodle"):
        raise ValueError("--roster maps Canvas's or Moodle's ids: use it with --from canvas or --from moodle.")
    if args.source == "nbgrader":
        from autograder.reports import nbgrader_feedback

        return nbgrader_feedback.course_folders(args.submissions)[1]
    if args.source in ("canvas", "moodle"):
        from autograder.pipeline import lms_downloads

        imported = lms_downloads.import_download(args.source, args.submissions, args.lab, args.out,
                                                 roster=args.roster, id_column=args.id_column)
        for line in imported.lines:
            print(line)
        print(f"{len(imported.students)} student(s) imported into {imported.folder}, {len(imported.refused)} "
              f"refused; the list is in {imported.folder}.txt", flush=True)
        refused += imported.refused
        if not imported.students:
            raise ValueError(f"no student of the {args.source} download could be imported; the lines above say why.")
        return imported.folder
    return args.submissions


def run_comet_upload(args: argparse.Namespace) -> int:
    from autograder.comet import upload as comet_upload

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


def run_dashboard(args: argparse.Namespace) -> int:
    from autograder.reports import dashboard

    print(f"class dashboard: {dashboard.rebuild(args.out, args.lab)}")  # no results: FileNotFoundError, status 2
    return 0


def run_export(args: argparse.Namespace) -> int:
    from autograder.reports import lms_export

    return lms_export.run(args)  # a wrong roster, lab or option: ValueError, status 2


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

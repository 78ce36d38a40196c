"""Grading a class: every submission of a lab, in parallel, resumable, one result file each.

The parent process is the only one that writes the output folder: the
per-submission result JSON (atomically, as each submission finishes), the
feedback pages, ``grades.csv`` and the nbgrader gradebook. Workers are
processes (spawned, so none inherits the parent's TensorFlow threads) on this
machine, or a Dask cluster's (:mod:`autograder.pipeline.cluster`), that only
drive sandboxes and compare what comes back; a grader exception in one
submission, even a dead worker, becomes that student's ``error`` status and the
batch goes on.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from autograder import graders, sandbox
from autograder.comet import review as comet_review
from autograder.comet import upload as comet_upload
from autograder.pipeline import cluster as clusters
from autograder.pipeline import submissions
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import SubmissionResult, not_judged, read_result, write_result
from autograder.reports import dashboard, feedback, gradebook
from autograder.scoring import evaluation_sets, model_fingerprints

log = logging.getLogger(__name__)

GRADER_VERSION = "4"
"""Part of every submission's content hash: bump it when grading changes, so old results are redone."""

GRADER_FAILED = "The grader failed on this submission; the instructor has the details."
COPY_FAILED = ("The grader could not take its copy of your submission, so nothing in it was graded. This is "
               "the grader's failure, not yours: your instructor has the details and will grade it again.")


def result_path(out: Path, lab: str, student_id: str) -> Path:
    return out / "results" / lab / f"{student_id}.json"


def grade(lab: str, submissions_dir: str | Path, out: str | Path, *, workers: int = 1,
          options: GradingOptions | None = None,
          progress: Callable[[SubmissionResult, bool], None] | None = None,
          on_refused: Callable[[str], None] | None = None, cluster: clusters.Cluster | None = None,
          on_start: Callable[[int, str | None], None] | None = None) -> list[SubmissionResult]:
    """Grade every ``submissions_dir/<student_id>/<lab>/`` and write the results to ``out``.

    Parameters
    ----------
    lab : str
        e.g. ``"lab1-mnist"``.
    submissions_dir, out : path
        The class's submissions; the output folder (``grades.csv``,
        ``feedback/<student_id>/<lab>.html``, ``results/``, ``gradebook.db``).
    workers : int
        Submissions graded at once, each by a worker process driving its own
        sandboxes. The workers are spawned, so a script calling this needs the
        usual ``if __name__ == "__main__":`` guard. Only for this machine's pool: leave it at
        1 with ``cluster``.
    options : GradingOptions
        Profile (which targets apply), limits and the evaluation set. A private
        evaluation file that is missing or malformed raises
        :class:`autograder.scoring.evaluation_sets.EvaluationSetError` before anything is graded.
    progress : callable, optional
        Called as ``progress(result, reused)`` after each submission.
    on_refused : callable, optional
        Called with a line for each student folder that cannot be graded (an
        unusable student id); each is logged as a warning either way.
    cluster : Cluster, optional
        Grade on a Dask cluster instead (:mod:`autograder.pipeline.cluster`): a task per
        submission, the batch's scratch folder made in ``cluster.scratch``.
    on_start : callable, optional
        Called as ``on_start(submissions, dashboard)`` once the pool or cluster is up, with
        the number of student folders to grade and the cluster's dashboard address (or None).

    Returns
    -------
    list of SubmissionResult
        One per submission, sorted by student id, whatever it holds: one the
        grader could not copy or grade has the status ``error``. A submission
        whose content hash matches a finished result in ``out`` is not graded again.
    """
    if workers < 1:
        raise ValueError(f"workers={workers}; grade with at least one worker.")
    if cluster is not None and workers != 1:
        raise ValueError(f"workers={workers} sizes this machine's pool; a cluster's workers are its own "
                         "(local:N for N here).")
    options = options or GradingOptions()
    if cluster is None:  # this machine's workers run the sandboxes (a cluster's workers check their own hosts)
        sandbox.check_sandboxed_labkit()  # or every probe of the batch fails: the instructor's error, said now
    cores = len(os.sched_getaffinity(0))
    threads = max(1, cores // workers) if cluster is None else cluster.threads_per_worker(cores)
    if threads is not None:  # the workers' sandboxes share their host's cores
        options = options.with_threads(threads)
    grader = graders.grader_for(lab)
    out = Path(out)
    found, refused = submissions.find(Path(submissions_dir), lab)
    for line in refused:
        log.warning("skipped %s", line)
        if on_refused is not None:
            on_refused(line)
    identity = (GRADER_VERSION, options.profile, submissions.file_hash(grader.source_notebook()),
                submissions.file_hash(grader.released_notebook()),
                evaluation_sets.fingerprint(options.evaluation_dir, lab))
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, SubmissionResult] = {}
    scratch_root = None if cluster is None else cluster.scratch
    with tempfile.TemporaryDirectory(prefix=f"labkit-grading-{lab}-", dir=scratch_root) as scratch, \
            clusters.start(cluster, workers, preload=(__name__, graders.LABS[lab])) as where:
        if on_start is not None:
            on_start(len(found), where.dashboard)
        scratch = Path(scratch)
        context, book = _set_up(grader, scratch / "batch", options, out, lab)
        try:
            pending = []
            for submission in found:
                private = scratch / "submissions" / submission.student_id
                try:
                    copied, digest = _collect(submission, private, out, identity)
                except Exception as error:  # nothing one submission holds may stop the batch
                    failed = _grader_failed(submission, "", options, context, error, 0.0, message=COPY_FAILED)
                    log.error("%s/%s was not graded: %s", submission.student_id, lab, failed.grader_error)
                    results[submission.student_id] = failed
                    _record(out, lab, failed, book, grader, reused=False, progress=progress)
                    shutil.rmtree(private, ignore_errors=True)
                    continue
                previous = read_result(result_path(out, lab, submission.student_id))
                if previous is not None and previous.content_hash == digest and previous.status != "error":
                    results[submission.student_id] = previous
                    _record(out, lab, previous, book, grader, reused=True, progress=progress)
                    shutil.rmtree(private, ignore_errors=True)
                    continue
                pending.append((submission, copied, digest))
            task = _grade_afresh if where.reruns else _grade_one
            jobs = [((submission, digest), submission.student_id,
                     (grader, context, submission, copied, digest, options)) for submission, copied, digest in pending]
            for (submission, digest), outcome in where.run(task, jobs):
                if isinstance(outcome, SubmissionResult):  # the task itself never raises
                    result = outcome
                else:  # its worker died, too often on a cluster, or the cluster lost it
                    result = _grader_failed(submission, digest, options, context, outcome, 0.0)
                    log.error("%s/%s was not graded: %s", submission.student_id, lab, result.grader_error)
                results[result.student_id] = result
                _record(out, lab, result, book, grader, reused=False, progress=progress)
                shutil.rmtree(scratch / "submissions" / result.student_id, ignore_errors=True)
        finally:
            book.close()
    ordered = [results[key] for key in sorted(results)]
    feedback.write_grades_csv(out / "grades.csv", ordered, list(context.points))
    similar = identical_models(ordered)  # every pair of students compared: once, for the CSV and the dashboard
    feedback.write_identical_models_csv(out / "identical-models.csv", similar)
    review, sampled = grader.comet_review(ordered), grader.sampled_images
    if options.evaluation_dir is None:  # measured on the images the notebooks test on: comparable
        review = comet_review.flag_disagreements(review, sample_size=sampled)
        measured_on = f"a sample of {sampled:,} of the lab's test images" if sampled else "the lab's test images"
    else:
        measured_on = "the instructor's private evaluation set"
    comet_review.write_index(out / "comet-review.csv", review, measured_on)
    dashboard.write_dashboard(dashboard.page_path(out, lab), lab, ordered, similar, review)
    return ordered


def _set_up(grader, scratch: Path, options: GradingOptions, out: Path, lab: str):
    """The grader's context for the batch, and the gradebook, opened on a thread beside the set-up.

    Opening a new gradebook, nbgrader runs ``alembic`` for seconds in a process of its own, which need
    not wait for the set-up (evaluation images, reference results). The gradebook is used from this
    thread afterwards: nbgrader's sessions are per thread, on one SQLite file.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradebook") as beside:
        opening = beside.submit(gradebook.open_for, out, lab, grader.source_notebook())
        try:
            context = grader.setup(scratch, options)
        except BaseException:
            if opening.exception() is None:
                opening.result().close()
            raise
        return context, opening.result()


def identical_models(results: list[SubmissionResult]) -> list[model_fingerprints.SimilarPair]:
    """Every pair of students who handed in a model with the same weights, or nearly the same."""
    return model_fingerprints.similar_pairs({result.student_id: result.fingerprints for result in results})


def _collect(submission, private: Path, out: Path, identity: tuple[str, ...]) -> tuple[submissions.Copied, str]:
    """The submission's private copy, its Comet archives kept for upload (as handed in, before anything
    ran), and its content hash. Whatever the submission holds is a note on the copy; an exception here
    is the grader's own failure."""
    copied = submissions.copy(submission, private)
    comet_upload.keep_archives(private / "comet-offline", out, submission.lab, submission.student_id)
    return copied, submissions.content_hash(private, *identity)


def _grade_one(grader, context, submission, copied, digest, options) -> SubmissionResult:
    started = time.perf_counter()
    try:
        # Read before any student code runs in the copy: the notebook run could add runs there.
        comet_runs = comet_review.read_runs(copied.folder / "comet-offline")
        graded = grader.grade(copied.folder, context)
        notes = tuple(f"Left out of grading: {line}" for line in copied.skipped) + graded.notes
        return SubmissionResult(submission.student_id, submission.lab, digest, graded.parts,
                                graded.notebook_tests, notes, round(time.perf_counter() - started, 2),
                                graded.fingerprints, options.profile, runs=graded.runs,
                                comet_runs=comet_runs)
    except Exception as error:  # one broken submission never stops the batch
        log.exception("grading %s/%s failed", submission.student_id, submission.lab)
        return _grader_failed(submission, digest, options, context, error, time.perf_counter() - started)


def _grade_afresh(grader, context, submission, copied, digest, options) -> SubmissionResult:
    """:func:`_grade_one` on a copy of the private copy made for this try, removed after it.

    A cluster runs a task again when its worker died: each try starts from the submission as
    handed in, never from what an earlier try's notebook run left in its folder.
    """
    if not copied.folder.is_dir():
        raise FileNotFoundError(f"this worker cannot see the batch's scratch folder ({copied.folder.parent.parent}): "
                                "grade with --scratch on a folder every worker host shares, at the same path")
    if options.data_dir is not None and not Path(options.data_dir).is_dir():  # the notebook would fail, not grade
        raise FileNotFoundError(f"this worker has no dataset mirror at {options.data_dir}: every worker host needs "
                                "it at the path LABKIT_DATA_DIR names on the instructor's")
    sandbox.check_sandboxed_labkit()  # this worker host's course Python: its sandboxes run here
    attempt = Path(tempfile.mkdtemp(prefix=f"{submission.student_id}-", dir=copied.folder.parent.parent))
    try:
        shutil.copytree(copied.folder, attempt, dirs_exist_ok=True)
        return _grade_one(grader, context, submission, replace(copied, folder=attempt), digest, options)
    finally:
        shutil.rmtree(attempt, ignore_errors=True)


def _grader_failed(submission, digest, options, context, error, seconds, *,
                   message: str = GRADER_FAILED) -> SubmissionResult:
    """Every part ``error``: the grader, not the student, broke. A re-run grades it again."""
    parts = tuple(not_judged(part, points, "error", message) for part, points in context.points.items())
    return SubmissionResult(submission.student_id, submission.lab, digest, parts,
                            seconds=round(seconds, 2), profile=options.profile,
                            grader_error="".join(traceback.format_exception_only(error)).strip())


def _record(out, lab, result, book, grader, *, reused, progress) -> None:
    if not reused:
        write_result(result, result_path(out, lab, result.student_id))
    feedback.write_feedback(out / "feedback" / result.student_id / f"{lab}.html", result)
    gradebook.record(book, result)
    if progress is not None:
        progress(result, reused)

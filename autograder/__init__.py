"""The course's grading machinery, built on nbgrader.

Importing ``autograder`` loads nothing heavy; each command imports nbgrader
when it runs. Run ``python -m autograder --help`` for the commands:

``release``
    Write the student notebooks in ``labs/`` from the instructors' notebooks in
    ``solutions/`` (see :mod:`autograder.release`).

``grade``
    Grade a lab's submissions in sandboxes: ``grades.csv``, feedback pages and
    nbgrader's gradebook (see :mod:`autograder.pipeline.grading`). From Python::

        results = autograder.grade("lab1-mnist", "submissions/", "graded/", workers=2)
"""


def grade(lab, submissions, out, workers=1, **options):
    """Grade ``submissions/<student>/<lab>/`` into ``out``; see :func:`autograder.pipeline.grading.grade`.

    ``options`` are :class:`autograder.pipeline.options.GradingOptions` fields
    (``profile="quick"``, ``data_dir=...``, ``evaluation_dir=...``, limits).
    """
    from autograder.pipeline.grading import grade as grade_class
    from autograder.pipeline.options import GradingOptions

    return grade_class(lab, submissions, out, workers=workers, options=GradingOptions(**options))

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


def grade(lab, submissions, out, workers=1, cluster=None, **options):
    """Grade ``submissions/<student>/<lab>/`` into ``out``; see :func:`autograder.pipeline.grading.grade`.

    ``cluster`` grades on a Dask cluster instead of ``workers`` processes here: a spec
    (``"local:4"``, ``"tcp://host:8786"``, ``"slurm"``) or an
    :class:`autograder.pipeline.cluster.Cluster`. ``options`` are
    :class:`autograder.pipeline.options.GradingOptions` fields (``profile="quick"``,
    ``data_dir=...``, ``evaluation_dir=...``, limits).
    """
    from autograder.pipeline.cluster import Cluster
    from autograder.pipeline.grading import grade as grade_class
    from autograder.pipeline.options import GradingOptions

    if isinstance(cluster, str):
        cluster = Cluster(cluster)
    return grade_class(lab, submissions, out, workers=workers, options=GradingOptions(**options), cluster=cluster)

"""The course's grading machinery, built on nbgrader.

Importing ``autograder`` loads nothing heavy; each command imports nbgrader
when it runs. Run ``python -m autograder --help`` for the commands:

``release``
    Write the student notebooks in ``labs/`` from the instructors' notebooks in
    ``solutions/`` (see :mod:`autograder.release`).
"""

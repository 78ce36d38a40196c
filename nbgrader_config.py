"""nbgrader settings for the course: the repository is the course directory.

Instructors write each lab once, with its solutions and hidden tests, as
``solutions/<lab>/<lab>.ipynb``; ``python -m autograder release`` (or
``nbgrader generate_assignment <lab> --force`` run here) writes the student
version to ``labs/<lab>/<lab>.ipynb``. Every nbgrader command reads this file,
and so does :mod:`autograder.release`, so both always agree.
"""

import os

c = get_config()  # noqa: F821 (traitlets provides get_config to config files)

course_root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = course_root

# Source and release folders sit side by side at the top of the repository:
# solutions/<lab>/<lab>.ipynb -> labs/<lab>/<lab>.ipynb.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"

# The gradebook is local state, not course material: it lives in an ignored folder.
# SQLite creates the file but not its folder, so the folder is made here, where
# every nbgrader command passes first.
gradebook_dir = os.path.join(course_root, ".nbgrader")
os.makedirs(gradebook_dir, exist_ok=True)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(gradebook_dir, "gradebook.db")

# What a lab writes when it is run in place (trained models, Comet's offline
# archives) is not part of the assignment, and must not be released to students.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "artifacts",
    "comet-offline",
    "*.cometml-runs",
    ".cometml-runs",
]

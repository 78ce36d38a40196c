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

# Whenever nbgrader copies a folder, it leaves out what CourseDirectory.ignore matches.
# What a lab writes when it runs, trained models in artifacts/ and Comet's offline
# archives in comet-offline/, is what the grader judges, so a hand-in must keep it on
# its way through the exchange (fetch, submit, collect, which read the course-wide list:
# nbgrader moves any SubmitApp or CollectApp section to its exchange classes). Only the
# release leaves it out, `nbgrader generate_assignment` and `release_assignment` by their
# own sections, which autograder.release applies too: run in place, a lab's folder holds
# the instructors' trained models.
never_copied = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.cometml-runs", ".cometml-runs"]
run_outputs = ["artifacts", "comet-offline"]
c.CourseDirectory.ignore = never_copied
c.GenerateAssignmentApp.CourseDirectory.ignore = never_copied + run_outputs
c.ReleaseAssignmentApp.CourseDirectory.ignore = never_copied + run_outputs

"""Experiment tracking on Comet that never makes a lab fail or wait.

>>> run = labkit.track.start(lab="lab2", learning_rate=0.01, epochs=5)   # course from course.json
>>> history = model.fit(x, y, epochs=5, validation_split=0.1, callbacks=[run.keras_callback()])
>>> run.log_confusion_matrix(y_test, predictions, labkit.data.class_names("mnist"))
>>> run.log_figure(labkit.plot.history(history), "training curves")
>>> run.end()                     # the offline archive, if the run went offline
PosixPath('.../comet-offline/0f3c....zip')

In a loop of your own, log each step with ``run.log_step(step, loss=loss)``.

The API key is read, as comet_ml reads it, from ``COMET_API_KEY`` or
``~/.comet.config`` (``comet login`` writes it), never from a notebook. Without
a key or a network, and always while grading (:func:`labkit.config.headless`),
a run is written to an offline archive in ``./comet-offline/``; upload it later
with ``comet upload <archive>``. ``LABKIT_TRACKING=off`` turns tracking off.

Runs are named ``<course>-<lab>-<student>`` and tagged with all three, in a
project named after the course, so an instructor can review a class at a glance.
The course and the student's id come from :mod:`labkit.course` unless given; each
run carries them as parameters (``course``, ``student_id``) and tags (the course,
``student_id:<id>``), so the grader's review can join runs to graded submissions.
"""

from __future__ import annotations

from labkit.track._start import default_student, experiment_name, start
from labkit.track._tracker import Tracker, TrackingWarning, model_summary

__all__ = ["Tracker", "TrackingWarning", "default_student", "experiment_name", "model_summary", "start"]

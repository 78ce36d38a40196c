"""Checks for graded notebooks: is the model built as asked, and does it behave as a classifier should?

>>> import labkit
>>> MLP = ["flatten",
...        {"kind": "dense", "units": 128, "activation": "relu"},
...        {"kind": "dense", "units": 10, "activation": "softmax"}]
>>> labkit.check.architecture(model, MLP, input_shape=(28, 28), params=101_770)
>>> labkit.check.initial_loss(model, x[:256], y[:256], n_classes=10)
>>> labkit.check.can_overfit_batch(model, x[:32], y[:32])

Every check returns a :class:`Report`: truthy when it passes, listing every
difference with a teaching message when it does not, shown in colour as a
cell's result, and ``.assert_ok()`` for nbgrader's hidden tests.
:class:`Question` wraps a check for students, learntools-style.

The same checks work on Keras 3 models and PyTorch modules; importing this
package imports neither framework. :mod:`labkit.check.submission` checks a whole
lab folder before hand-in (``labkit.check_submission()``, ``labkit check-submission``).
"""

from __future__ import annotations

from labkit.check.behaviour import (
    can_overfit_batch,
    gradients_reach_all_parameters,
    initial_loss,
    output_is_distribution,
    training_step_matches,
)
from labkit.check.feedback import Question
from labkit.check.report import Difference, Report
from labkit.check.structure import architecture, spec_of

__all__ = [
    "Difference", "Question", "Report", "architecture", "can_overfit_batch",
    "gradients_reach_all_parameters", "initial_loss", "output_is_distribution", "spec_of",
    "training_step_matches",
]

"""Sandboxed probe: the trials a student's ``random_search`` reports on the grader's small problem.

The grader appends a cell that calls :func:`probe` with the notebook's
``random_search`` and ``DEVICE`` (where its models go). The problem is the grader's: a small float64 linear
classifier (:class:`FragileLinear`) that always starts from the weights in
``problem.npz``, its training and validation features and labels there, a
grid and three seeds in ``search.json``. For each seed, ``random_search`` gets
``make_model`` (a new classifier at the start weights, counted), ``make_loader``
(the training rows in order, in batches of the requested size), the validation
batches, the epochs and the seed; what each trial reports goes to
``OUT/trials.json``, with how many models were made. The grader trains the same
classifier for each reported setting itself, outside the sandbox
(:func:`trained_scores`, shared by both sides), and compares.
"""

import json
import math
import shutil
from pathlib import Path


def new_classifier(start, bound):
    """A :class:`FragileLinear` at the ``start`` weights."""
    import torch
    from torch import nn

    class FragileLinear(nn.Module):
        """A linear layer whose outputs turn NaN once its weights pass ``bound``: a diverging setting, made certain.

        Within the bound it is exactly ``nn.Linear`` (the extra term is 0 and has no gradient); beyond
        it the training loss is NaN, as a too-high learning rate makes a deep network's, and
        ``labkit.models.train_epoch`` raises ``FloatingPointError``.
        """

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(start["weight"].shape[1], start["weight"].shape[0], dtype=torch.float64)
            with torch.no_grad():
                self.linear.weight.copy_(torch.from_numpy(start["weight"]))
                self.linear.bias.copy_(torch.from_numpy(start["bias"]))

        def forward(self, features):
            past = self.linear.weight.detach().pow(2).sum() > bound
            return self.linear(features) + torch.where(past, torch.nan, 0.0)

    return FragileLinear()


def batches_of(features, labels, batch_size):
    """The rows in order, in batches of ``batch_size`` (features float64, labels int64)."""
    import torch

    return [(torch.from_numpy(features[i:i + batch_size].copy()), torch.from_numpy(labels[i:i + batch_size].copy()))
            for i in range(0, len(labels), batch_size)]


def trained_scores(settings, problem, epochs):
    """The validation loss and accuracy of a new classifier after ``epochs`` of SGD with ``settings``.

    The trusted side's reference: what ``random_search`` must report for this setting. A
    diverging setting's loss is ``inf``.
    """
    import numpy as np
    import torch

    from labkit import models

    model = new_classifier(problem["start"], float(problem["bound"]))
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["learning_rate"], momentum=settings["momentum"],
                                weight_decay=settings["weight_decay"])
    training = batches_of(problem["train_x"], problem["train_y"], int(settings["batch_size"]))
    validation = batches_of(problem["val_x"], problem["val_y"], len(problem["val_y"]))
    try:
        for _ in range(epochs):
            models.train_epoch(model, training, optimizer, device="cpu")
        loss = models.mean_loss(model, validation, device="cpu")
    except FloatingPointError:
        loss = math.inf
    predicted = models.predict(model, validation, device="cpu").argmax(axis=1)
    return float(loss), float(np.mean(predicted == problem["val_y"]))


def read_problem(probe_dir: Path) -> dict:
    import numpy as np

    with np.load(probe_dir / "problem.npz", allow_pickle=False) as data:
        problem = {name: data[name] for name in data.files}
    problem["start"] = {"weight": problem.pop("weight"), "bias": problem.pop("bias")}
    return problem


def as_json_number(value) -> float | str:
    """A float JSON can hold, or its name (``"inf"``, ``"nan"``): the grader's JSON reader refuses Infinity."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def probe(random_search, device, probe_dir, out_dir) -> None:
    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    problem = read_problem(probe_dir)
    search = json.loads((probe_dir / "search.json").read_text())
    validation = batches_of(problem["val_x"], problem["val_y"], len(problem["val_y"]))
    runs = []
    for seed in search["seeds"]:
        made = []

        def make_model():
            made.append(new_classifier(problem["start"], float(problem["bound"])).to(device))
            return made[-1]

        trials = random_search(make_model, {key: list(values) for key, values in search["grid"].items()},
                               search["trials"], lambda batch_size: batches_of(problem["train_x"],
                                                                               problem["train_y"], int(batch_size)),
                               validation, search["epochs"], seed=seed)
        runs.append({"seed": seed, "models_made": len(made), "trials": [
            {"settings": {key: as_json_number(trial.settings[key]) for key in search["grid"]},
             "validation_loss": as_json_number(trial.validation_loss),
             "validation_accuracy": as_json_number(trial.validation_accuracy)} for trial in trials]})
    out_dir.mkdir(parents=True)
    (out_dir / "trials.json").write_text(json.dumps(runs))

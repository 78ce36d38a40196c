"""Does the model behave like a classifier that can learn? The sanity checks of a careful practitioner.

Each check runs the model for real on a few images and returns a
:class:`~labkit.check.report.Report`: the output is a distribution, the loss
before training is about ln(C), one batch can be memorised, gradients reach
every parameter, and a student's training step moves the weights like the
reference step. Every check works on Keras 3 models and torch modules alike;
the framework-specific parts live in the adapters (see
:mod:`labkit.check.frameworks`), the judgement and the explanations here.

Inputs ``x`` and labels ``y`` are NumPy arrays (or CPU tensors): images
exactly as the model is fed them, labels as class indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from labkit.check.frameworks import PROBABILITY_FLOOR, adapter_for
from labkit.check.report import Difference, Report

__all__ = [
    "can_overfit_batch", "gradients_reach_all_parameters", "initial_loss",
    "output_is_distribution", "training_step_matches",
]

_ALIGNED = 0.99  # cosine similarity above which two updates point the same way


def output_is_distribution(model: Any, x: Any, *, n_classes: int | None = None,
                           from_logits: bool = False, atol: float = 1e-3) -> Report:
    """Check that the model gives one row of class scores per image, of the kind its loss expects.

    Parameters
    ----------
    model : keras.Model or torch.nn.Module
    x : array of images, as the model is fed them
    n_classes : int, optional
        When given, each row must have this many entries.
    from_logits : bool
        False (the default): rows must be probabilities (non-negative, summing to
        1), as after a softmax. True: the model is meant to output logits, because
        the loss applies the softmax itself (``nn.CrossEntropyLoss``,
        ``from_logits=True`` in Keras); then rows that are already probabilities
        are a mistake.
    atol : float
        How far a row's sum may be from 1.
    """
    x = _images(x)
    outputs = adapter_for(model).predict(model, x)
    differences = _output_problems(outputs, len(x), n_classes, from_logits, atol)
    if (from_logits and not differences
            and _in_unit_range(outputs, atol) and _rows_sum_to_one(outputs, atol)):
        differences.append(Difference("already probabilities", (
            "Every row is already a probability distribution (non-negative, summing to 1), but "
            "the loss is meant to receive logits and apply the softmax itself: remove the final "
            "softmax (PyTorch's nn.CrossEntropyLoss includes it).")))
    what = "raw class scores (logits)" if from_logits else "a probability distribution over the classes"
    if differences:
        return Report(f"The model's output is not {what}.", tuple(differences))
    return Report(f"The model outputs {what}: {outputs.shape[1]} values for each of "
                  f"the {len(x)} images.")


def initial_loss(model: Any, x: Any, y: Any, n_classes: int, *, from_logits: bool = False,
                 rtol: float = 0.25) -> Report:
    """Check that the untrained model's cross-entropy is about ln(n_classes).

    A model that has learnt nothing should spread its belief evenly over the
    classes, and that costs ln(C) (2.30 for 10 classes). Far above, the model is
    confidently wrong from the start (unscaled inputs, oversized initial weights);
    far below, it is not untrained. Call it on a freshly built model.

    Parameters
    ----------
    model, x : see :func:`output_is_distribution`
    y : array of int
        Class indices of the images.
    n_classes : int
    from_logits : bool
        Whether the model outputs logits rather than probabilities.
    rtol : float
        Accepted distance from ln(C), as a fraction of ln(C).
    """
    x = _images(x)
    y = _labels(y, len(x), n_classes)
    outputs = adapter_for(model).predict(model, x)
    if problems := _output_problems(outputs, len(x), n_classes, from_logits):
        return _cannot_judge("The initial loss", problems)
    loss, expected = _cross_entropy(outputs, y, from_logits), math.log(n_classes)
    reference = f"ln({n_classes}) = {expected:.2f}"
    if abs(loss - expected) <= rtol * expected:
        return Report(f"The loss before training is {loss:.2f}, close to {reference}, as expected "
                      "of a model that has learnt nothing yet.")
    if loss > expected:
        difference = Difference("initial loss too high", (
            f"The loss before training is {loss:.3g}, far above {reference}, the loss of a model "
            "that spreads its guesses evenly: the untrained model is confidently wrong. Check that "
            "the images are scaled to [0, 1] and that the last layer starts with small weights."))
    else:
        difference = Difference("initial loss too low", (
            f"The loss before training is {loss:.3g}, well below {reference}: an untrained model "
            "cannot know the labels. Has this model been trained already? Build a fresh one "
            "before the check."))
    return Report("The loss before training is not what an untrained model gives.", (difference,))


def can_overfit_batch(model: Any, x: Any, y: Any, *, steps: int = 100,
                      learning_rate: float = 1e-3, from_logits: bool = False,
                      max_loss: float = 0.05) -> Report:
    """Check that the model can memorise one small batch: the first test of any training setup.

    Trains with Adam on ``(x, y)`` alone for ``steps`` steps and expects the loss
    to fall below ``max_loss``. A model that cannot learn 32 images by heart will
    not learn 60,000. The model's weights are put back afterwards.

    Parameters
    ----------
    model, x, y, from_logits : see :func:`initial_loss`
        ``x`` should be small: 16 to 64 images.
    steps : int
    learning_rate : float
    max_loss : float
        The loss the last step must reach.
    """
    if steps < 1:
        raise ValueError(f"steps={steps!r}; train for at least one step.")
    adapter = adapter_for(model)
    x = _images(x)
    y = _labels(y, len(x))
    if problems := _output_problems(adapter.predict(model, x), len(x), None, from_logits):
        return _cannot_judge("Training on one batch", problems)
    with adapter.preserved(model):
        losses = adapter.train(model, x, y, steps=steps, learning_rate=learning_rate,
                               from_logits=from_logits)
    first, last = losses[0], losses[-1]
    batch = f"{steps} steps on the same {len(x)} images"
    if math.isfinite(last) and last <= max_loss:
        return Report(f"The model memorised the batch: the loss fell from {first:.3f} to "
                      f"{last:.4f} in {batch}.")
    if not math.isfinite(last):
        difference = Difference("loss not finite", (
            f"The loss became {last} during training (it started at {first:.3g}): lower the "
            "learning rate, and check that the model's output suits the loss."))
    elif last > 0.9 * first:
        difference = Difference("loss did not fall", (
            f"The loss stayed at {last:.3g} (it started at {first:.3g}) after {batch}: the model "
            "does not learn. Check that gradients reach every parameter "
            "(labkit.check.gradients_reach_all_parameters) and that no layer is frozen."))
    else:
        difference = Difference("loss fell too little", (
            f"The loss fell from {first:.3g} to only {last:.3g} after {batch}; a sound model gets "
            f"below {max_loss}. The model may be too small for the task, or the learning rate "
            "too low."))
    return Report("The model could not memorise a single batch.", (difference,))


def gradients_reach_all_parameters(model: Any, x: Any, y: Any, *, from_logits: bool = False,
                                   allow_frozen: bool = False) -> Report:
    """Check that the loss sends a non-zero gradient to every trainable parameter.

    A parameter without gradient never changes: its layer is not used in
    ``call``/``forward``, or the path from it to the loss is cut (``.detach()``,
    ``.numpy()``, ``torch.no_grad()``, ``keras.ops.stop_gradient``). Frozen
    layers are reported too, unless freezing is intended (``allow_frozen``).

    Parameters
    ----------
    model, x, y, from_logits : see :func:`initial_loss`
    allow_frozen : bool
        Accept layers set ``trainable = False`` / ``requires_grad = False``.
    """
    adapter = adapter_for(model)
    x = _images(x)
    y = _labels(y, len(x))
    if problems := _output_problems(adapter.predict(model, x), len(x), None, from_logits):
        return _cannot_judge("The gradients", problems)
    grads = adapter.gradients(model, x, y, from_logits)
    unreachable = [name for name, grad in grads if grad is None]
    zero = [name for name, grad in grads if grad is not None and not np.any(grad)]
    frozen = [] if allow_frozen else adapter.frozen(model)
    differences = []
    if not grads and not frozen:
        differences.append(Difference("no parameters", "The model has no trainable parameters."))
    if unreachable:
        differences.append(Difference("no gradient", (
            f"No gradient reaches {_names(unreachable)}: nothing connects these parameters to the "
            "loss, so training never changes them. Is the layer used in call()/forward()? Does a "
            ".detach(), .numpy(), torch.no_grad() or keras.ops.stop_gradient cut the path from it "
            "to the output?")))
    if zero:
        differences.append(Difference("zero gradient", (
            f"The gradient of {_names(zero)} is exactly zero on this batch: the parameters are "
            "connected but have no effect on the loss. Look for units that are never active (a "
            "ReLU after a layer that only outputs negatives) or a multiplication by zero.")))
    if frozen:
        differences.append(Difference("frozen", (
            f"{_names(frozen)} {'is' if len(frozen) == 1 else 'are'} frozen (trainable=False in "
            "Keras, requires_grad=False in PyTorch), so training never changes "
            f"{'it' if len(frozen) == 1 else 'them'}: unfreeze, or pass allow_frozen=True if "
            "freezing is intended.")))
    if differences:
        return Report("Training would not update every parameter.", tuple(differences))
    return Report(f"Gradients reach all {len(grads)} trainable parameter tensors.")


def training_step_matches(step_fn: Callable[[Any, Any], Any],
                          reference_step_fn: Callable[[Any, Any], Any],
                          model_factory: Callable[[], Any], batch: Any, *, steps: int = 2,
                          rtol: float = 1e-3, atol: float = 1e-7) -> Report:
    """Check that a student's training step changes the weights as the reference step does.

    Both steps run on identical models (built by ``model_factory``, weights
    copied) and the same batch, and each parameter's change is compared after
    every step; then the student's model is set to the reference weights again,
    so that each step is judged on its own. Two steps by default, so that
    anything carried over between steps (gradients piling up without
    ``optimizer.zero_grad()``) shows.

    Parameters
    ----------
    step_fn, reference_step_fn : callable
        ``step(model, batch)``: one training step on ``model``, in place. Wrap a
        student's ``train_step(model, optimizer, x, y)`` in a function that
        supplies the rest.
    model_factory : callable
        Builds a fresh model. It must be deterministic to run: no dropout, since
        random masks make even two reference steps differ.
    batch : tuple (x, y)
        Passed to the step functions unchanged.
    steps : int
    rtol, atol : float
        A parameter matches when its change differs from the reference change by
        at most ``rtol`` times the reference change's size, plus ``atol``.

    Raises
    ------
    ValueError
        When the reference step itself does not repeat on identical models.
    """
    if steps < 1:
        raise ValueError(f"steps={steps!r}; compare at least one step.")
    student, reference, control = model_factory(), model_factory(), model_factory()
    adapter = adapter_for(reference)
    for model in (reference, student, control):
        adapter.build(model, np.asarray(batch[0]))
    for number in range(1, steps + 1):
        for model in (student, control):
            adapter.copy_weights(reference, model)
        before = adapter.weights(reference)
        step_fn(student, batch)
        reference_step_fn(reference, batch)
        reference_step_fn(control, batch)
        wanted = adapter.weights(reference)
        if _changes_differently(before, wanted, adapter.weights(control), rtol, atol):
            raise ValueError(
                "The reference step changed two identical models differently, so it cannot serve "
                "as a reference: remove dropout and other randomness from the models "
                "model_factory builds.")
        findings = _changes_differently(before, wanted, adapter.weights(student), rtol, atol)
        if findings:
            return Report(
                f"The training step does not update the weights as the reference step does"
                f"{'' if number == 1 else f' (step {number}; the steps before it matched)'}.",
                tuple(_step_difference(aspect, found, number) for aspect, found in findings.items()))
    return Report(f"The training step changes all {len(before)} parameter tensors as the "
                  f"reference step does, {steps} step{'s' if steps > 1 else ''} in a row.")


def _changes_differently(before: list[tuple[str, np.ndarray]], wanted: list[tuple[str, np.ndarray]],
                         got: list[tuple[str, np.ndarray]], rtol: float,
                         atol: float) -> dict[str, list[tuple[str, float]]]:
    """The parameters of ``got`` whose change from ``before`` differs from ``wanted``'s, by diagnosis."""
    findings: dict[str, list[tuple[str, float]]] = {}
    for (_, start), (_, target), (name, end) in zip(before, wanted, got):
        diagnosis = _diagnose(target - start, end - start, rtol, atol)
        if diagnosis is not None:
            aspect, ratio = diagnosis
            findings.setdefault(aspect, []).append((name, ratio))
    return findings


def _diagnose(wanted: np.ndarray, got: np.ndarray, rtol: float,
              atol: float) -> tuple[str, float] | None:
    """How a parameter's change ``got`` differs from the reference change ``wanted``, if it does.

    Returns the aspect and the ratio of the two changes' sizes.
    """
    wanted, got = wanted.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    size, got_size = np.linalg.norm(wanted), np.linalg.norm(got)
    if np.linalg.norm(got - wanted) <= rtol * size + atol:
        return None
    ratio = got_size / size if size > 0 else math.inf
    if got_size <= atol:
        return "not updated", ratio
    cosine = float(wanted @ got) / (size * got_size) if size > 0 else 0.0
    if cosine < -_ALIGNED:
        return "opposite direction", ratio
    if cosine > _ALIGNED:
        return "step size", ratio
    return "different update", ratio


def _step_difference(aspect: str, found: list[tuple[str, float]], number: int) -> Difference:
    names = _names([name for name, _ in found])
    if aspect == "not updated":
        text = (f"{names} did not change, but the reference step changes them: make sure the step "
                "applies the update to every parameter (optimizer.step() in PyTorch, "
                "optimizer.apply_gradients(...) in Keras).")
    elif aspect == "opposite direction":
        text = (f"{names} moved in the opposite direction to the reference step: the update must "
                "subtract the gradient (descend the loss), not add it.")
    elif aspect == "step size":
        ratio = float(np.median([ratio for _, ratio in found]))
        text = (f"{names} moved in the right direction but {ratio:.3g} times as far as the reference "
                "step: check the learning rate, and that the loss is the mean over the batch.")
    else:
        text = (f"{names} changed differently from the reference step: check the loss function, "
                "the labels it is given, and the optimizer.")
    if number > 1:
        text += (f" This first shows in step {number}, so something carries over from one step to "
                 "the next: in PyTorch, call optimizer.zero_grad() before every backward pass, or "
                 "the gradients pile up.")
    return Difference(aspect, text)


# --- shared pieces ---------------------------------------------------------------------------


def _images(x: Any) -> np.ndarray:
    images = np.asarray(x, dtype=np.float32)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(f"x has shape {images.shape}; pass a batch of images, shape (N, ...).")
    return images


def _labels(y: Any, count: int, n_classes: int | None = None) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim == 2:
        raise ValueError("y holds one-hot rows; pass class indices instead: y.argmax(axis=1).")
    if labels.shape != (count,):
        raise ValueError(f"y has shape {labels.shape}; pass one class index per image, "
                         f"shape ({count},).")
    if not np.all(labels == np.round(labels)):
        raise ValueError("y holds fractions; pass whole class indices.")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"y holds the class {labels.min()}; class indices count from 0.")
    if n_classes is not None and labels.max() >= n_classes:
        raise ValueError(f"y holds the class {labels.max()}, but with {n_classes} classes the "
                         f"indices run from 0 to {n_classes - 1}.")
    return labels


def _output_problems(outputs: np.ndarray, count: int, n_classes: int | None,
                     from_logits: bool, atol: float = 1e-3) -> list[Difference]:
    """What makes the output unfit for a cross-entropy loss; empty when it is fit."""
    if outputs.ndim != 2 or len(outputs) != count:
        return [Difference("output shape", (
            f"For {count} images the model outputs shape {outputs.shape}; a classifier outputs one "
            f"row of class scores per image, shape ({count}, number of classes). Check the last "
            "layers (is a Flatten missing?)."))]
    problems = []
    if n_classes is not None and outputs.shape[1] != n_classes:
        problems.append(Difference("number of classes", (
            f"The model outputs {outputs.shape[1]} values per image but there are {n_classes} "
            f"classes: the last layer needs {n_classes} units.")))
    if not np.all(np.isfinite(outputs)):
        problems.append(Difference("not finite", (
            "The output contains NaN or infinite values: check for a division by zero or a log of "
            "zero in the model.")))
    elif not from_logits:
        if not _in_unit_range(outputs, atol):
            problems.append(Difference("not probabilities", (
                f"The outputs range from {outputs.min():.3g} to {outputs.max():.3g}, so they are not "
                "probabilities: end the model with a softmax, or pass from_logits=True if it is meant "
                "to output logits.")))
        elif not _rows_sum_to_one(outputs, atol):
            sums = outputs.sum(axis=1)
            problems.append(Difference("rows do not sum to 1", (
                f"Each image's probabilities should sum to 1, but the sums range from "
                f"{sums.min():.3g} to {sums.max():.3g}: use softmax, not sigmoid, on the last layer, "
                "so that the classes share one unit of belief.")))
    return problems


def _cannot_judge(subject: str, problems: list[Difference]) -> Report:
    return Report(f"{subject} cannot be judged: the model's output does not suit the loss "
                  "(from_logits tells which loss).", tuple(problems))


def _in_unit_range(outputs: np.ndarray, atol: float) -> bool:
    return bool(outputs.min() >= -atol and outputs.max() <= 1 + atol)


def _rows_sum_to_one(outputs: np.ndarray, atol: float) -> bool:
    return bool(np.allclose(outputs.sum(axis=1), 1.0, rtol=0, atol=atol))


def _cross_entropy(outputs: np.ndarray, labels: np.ndarray, from_logits: bool) -> float:
    """Mean cross-entropy, computed stably in float64 from probabilities or logits."""
    outputs = outputs.astype(np.float64)
    if from_logits:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    else:
        log_probabilities = np.log(np.clip(outputs, PROBABILITY_FLOOR, 1.0))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def _names(names: list[str], shown: int = 4) -> str:
    """``'a', 'b' and 'c'``; long lists end with how many more there are."""
    quoted = [f"'{name}'" for name in names[:shown]]
    if len(names) > shown:
        return f"{', '.join(quoted)} and {len(names) - shown} more"
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"

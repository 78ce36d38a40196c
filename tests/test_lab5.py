"""Lab 5 (EMNIST ByClass, PyTorch): the solution trains to its targets and saves reloadable weights;
the student version hides the answers and fails its checks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.notebooks import cell, read, solution_notebook

LAB = "lab5-emnist-deep-models"
MODELS = ["lenet", "vgg", "mnist-transfer"]

MEANINGFUL_QUICK_TARGETS = {"lenet": 0.30, "vgg": 0.40, "mnist-transfer": 0.70}
"""The least quick-profile accuracy that still shows a model learnt (a constant guess gets under 6% on ByClass)."""


def test_data_source_is_chosen_explicitly_and_stated():
    """The offline partition is asked for only when the official train images cannot be had, and said so."""
    loading = cell(read(solution_notebook(LAB)), "load-data").source
    assert 'official = labkit.data.official_available("emnist-byclass", "train")' in loading
    assert loading.count("offline_partition=not official") == 2  # train and test from the same source
    assert 'print(f"data: {train_split.dataset}")' in loading and "provenance" in loading


def test_every_count_and_size_comes_from_the_profile_and_the_device():
    """Sizes differ between the quick profile, a CPU and a GPU; targets come from labkit.targets."""
    source = "\n".join(c.source for c in read(solution_notebook(LAB)).cells)
    for name in ("train_size", "test_size", "LENET_EPOCHS", "SEARCH_TRIALS", "SEARCH_EPOCHS", "PRETRAIN_EPOCHS",
                 "FINETUNE_EPOCHS", "TRANSFER_EPOCHS", "transfer_size", "AUGMENT"):
        assert f"{name} = sized(cpu=" in source, f"{name} is not chosen by sized(cpu=..., gpu=..., quick=...)"
    assert "return profile.choose(full=gpu if info.accelerated else cpu, quick=quick)" in source
    assert source.count("augment=training_augmenter") == 3  # the search, pre-training and fine-tuning
    for model in MODELS:
        assert f'labkit.targets.target(LAB, "{model}")' in source


def test_every_saved_model_has_a_target_for_each_profile():
    import labkit

    for model in MODELS:
        quick, full = labkit.targets.target(LAB, model, "quick"), labkit.targets.target(LAB, model, "full")
        assert MEANINGFUL_QUICK_TARGETS[model] <= quick <= full


def test_graded_cell_catches_spinal_heads_that_read_the_wrong_halves():
    """Reading only the first half fails the students' own check; swapping the halves fails the grader's."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from labkit import models

    source = read(solution_notebook(LAB))
    solution = cell(source, "spinal-head").source
    correct = "inputs = halves[i % 2] if i == 0 else torch.cat([halves[i % 2], outputs[-1]], dim=1)"
    assert correct in solution

    def run(exercise: str) -> None:
        namespace = {"torch": torch, "nn": nn, "F": F, "models": models}
        exec(exercise, namespace)
        exec(cell(source, "test-spinal-head").source, namespace)

    def reading(half: str) -> str:
        return solution.replace(correct, f"inputs = {half} if i == 0 else torch.cat([{half}, outputs[-1]], dim=1)")

    run(solution)  # hidden tests included
    with pytest.raises(AssertionError, match="does not depend on the second half"):
        run(reading("halves[0]"))
    with pytest.raises(AssertionError, match="read the wrong inputs"):
        run(reading("halves[(i + 1) % 2]"))


@pytest.mark.slow
def test_solution_runs_end_to_end_in_the_quick_profile_and_saves_reloadable_models(solution_run):
    import labkit
    from labkit import models

    run = solution_run(LAB)  # raises at the first failing cell
    folder = run.folder

    assert run.failed_graded_cells() == {}  # hidden tests included
    metrics = run.metrics()
    assert metrics["profile"] == "quick"
    assert metrics["data"] in ("emnist-byclass", "emnist-byclass/offline-partition")
    for model in MODELS:
        assert metrics[model]["test_accuracy"] >= metrics[model]["target"] >= MEANINGFUL_QUICK_TARGETS[model]

    # The grader's view: rebuild each network from labkit.models, load the weights, measure it.
    def measured(name: str) -> float:
        record = metrics[name]
        evaluated = record["evaluated_on"]
        dataset = "emnist-byclass" if evaluated["dataset"].startswith("emnist-byclass") else evaluated["dataset"]
        images, labels = labkit.data.load(dataset, "test", offline_partition=evaluated["dataset"].endswith("partition"))
        images, labels = labkit.data.stratified_subset(images, labels, evaluated["test_size"],
                                                       seed=evaluated["subset_seed"])
        network = models.build(record["architecture"], num_classes=record["num_classes"], width=record["width"],
                               **record["options"])
        models.load_state(network, folder / "artifacts" / f"{name}.safetensors")
        loader = labkit.data.to_torch_loader(images, labels, batch_size=1000, shuffle=False,
                                             normalize=evaluated["normalize"])
        return float(np.mean(models.predict(network, loader, device="cpu").argmax(axis=1) == labels))

    for model in MODELS:
        assert measured(model) == pytest.approx(metrics[model]["test_accuracy"], abs=1e-4), model
    assert len(run.comet_archives()) == 2  # the LeNet run and the VGG run


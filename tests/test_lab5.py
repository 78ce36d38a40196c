"""Lab 5 (EMNIST ByClass, PyTorch): the solution trains to its targets and saves reloadable weights;
the student version hides the answers and fails its checks."""

from __future__ import annotations

import json
import re

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
                 "FINETUNE_EPOCHS", "TRANSFER_EPOCHS", "transfer_size", "AUGMENT", "COMPARE_STEPS"):
        assert f"{name} = sized(cpu=" in source, f"{name} is not chosen by sized(cpu=..., gpu=..., quick=...)"
    assert "return profile.choose(full=gpu if info.accelerated else cpu, quick=quick)" in source
    assert source.count("augment=training_augmenter") == 3  # the search, pre-training and fine-tuning
    for model in MODELS:
        assert f'labkit.targets.target(LAB, "{model}")' in source


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def test_every_heading_with_graded_cells_states_their_points_and_full_profile_thresholds():
    """Points follow the graded cells' own; each accuracy's threshold is the full profile's (labkit.targets,
    labkit.settings); the comparison carries the most points, the handed-out training loops the fewest."""
    import labkit

    notebook = read(solution_notebook(LAB))
    headings, points = [], {}
    for c in notebook.cells:
        found = re.search(r"^#{2,3} (.+) \((\d+) points?(: .+)?\)$", c.source, re.MULTILINE) \
            if c.cell_type == "markdown" else None
        if found:
            headings.append(found.group(0))
            points[found.group(0)] = 0.0
        nbgrader = c.metadata.get("nbgrader", {})
        if nbgrader.get("grade"):
            assert headings, f"{nbgrader['grade_id']} comes before any heading with points"
            points[headings[-1]] += nbgrader["points"]
    assert len(headings) == 6
    for heading, total in points.items():
        stated = float(re.search(r"\((\d+) points?", heading).group(1))
        assert stated == total, f"'{heading}' states {stated:g} points; its graded cells give {total:g}"
    full = {model: _percent(labkit.targets.target(LAB, model, "full")) for model in MODELS}
    lenet, _, search, _, comparison, transfer = headings
    assert f"2 for the trained LeNet's held-out accuracy, at least {full['lenet']} in the full profile" in lenet
    assert f"2 for the trained VGG's held-out accuracy, at least {full['vgg']} in the full profile" in search
    assert f"MNIST accuracy, at least {full['mnist-transfer']} in the full profile" in transfer
    floor = _percent(labkit.settings.value(LAB, "COMPARED_FLOOR", "full"))
    assert f"every network at least {floor} accurate in the full profile" in comparison
    assert points[comparison] == max(points.values()) == 5 and points[transfer] == 1
    assert sum(points.values()) == 20


def test_the_comparison_trains_every_network_at_widths_the_grader_scores_in_seconds():
    """Every architecture of labkit.models is compared, each in its own file, well under the hand-in limit."""
    import labkit
    from labkit import handin, models

    files = handin.compared_files(LAB)
    assert list(files) == list(models.ARCHITECTURES)
    assert set(files.values()).isdisjoint(handin.model_files(LAB).values())
    assert {f"artifacts/{name}" for name in [handin.COMPARISON_TABLES[LAB], *files.values()]} <= \
        set(handin.graded_files(LAB))
    for profile in ("full", "quick"):
        widths = labkit.settings.value(LAB, "COMPARED_WIDTHS", profile)
        assert list(widths) == list(models.ARCHITECTURES)
        for network, width in widths.items():
            zoo = labkit.settings.value(LAB, "WIDTHS")[network]
            assert width == zoo["cpu" if profile == "full" else "quick"]  # the zoo's CPU widths, on a GPU too
            state = models.build(network, num_classes=62, width=width).state_dict()
            size = sum(tensor.numel() * tensor.element_size() for tensor in state.values())
            assert size < handin.MAX_MODEL_BYTES / 8, (network, width, size)


def test_the_comparison_is_measured_on_the_grader_s_held_out_sample(mirror_dir):
    """The notebook's comparison images are, image for image, those the grader scores the saved networks on."""
    import labkit
    from autograder.graders import lab5_emnist_deep_models as grader

    source = cell(read(solution_notebook(LAB)), "compare-budget").source
    assert 'held_out = labkit.data.load("emnist-byclass", "test", offline_partition=True)' in source
    assert "stratified_subset(*held_out, HELD_OUT_SAMPLE, seed=SAMPLE_SEED)" in source
    held_out = labkit.data.load("emnist-byclass", "test", offline_partition=True)
    images, labels = labkit.data.stratified_subset(*held_out, labkit.settings.value(LAB, "HELD_OUT_SAMPLE"),
                                                   seed=labkit.settings.value(LAB, "SAMPLE_SEED"))
    graded = grader.held_out_sample()
    np.testing.assert_array_equal(images, graded.images)
    np.testing.assert_array_equal(labels, graded.labels)


def test_the_comparison_chart_draws_each_network_s_four_scores():
    import labkit

    rows = {"lenet": {"accuracy": 0.5, "precision": 0.4, "recall": 0.5, "f1": 0.41, "parameters": 35_814},
            "vgg": {"accuracy": 0.7, "precision": 0.62, "recall": 0.7, "f1": 0.63, "train_seconds": 18.0}}
    figure = labkit.plot.compare_scores(rows)
    axes = figure.axes[0]
    heights = [bar.get_height() for bar in axes.patches]
    assert heights == pytest.approx([50, 70, 40, 62, 50, 70, 41, 63])  # one series per score, one bar per network
    assert [label.get_text() for label in axes.get_xticklabels()] == ["lenet", "vgg"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["accuracy", "precision", "recall", "f1"]
    with pytest.raises(ValueError, match="has no f1"):
        labkit.plot.compare_scores({"lenet": {"accuracy": 0.5, "precision": 0.4, "recall": 0.5}})
    with pytest.raises(ValueError, match="fractions"):
        labkit.plot.compare_scores({"lenet": {"accuracy": 50, "precision": 40, "recall": 50, "f1": 41}})


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

    # The comparison: one row per network, each its own saved network's measurement on the table's images.
    from sklearn import metrics as sk

    table = json.loads((folder / "artifacts" / labkit.handin.COMPARISON_TABLES[LAB]).read_text())
    assert [row["network"] for row in table["rows"]] == list(models.ARCHITECTURES)
    assert table["budget"]["steps"] * table["budget"]["batch_size"] == table["budget"]["train_images"]
    evaluated = table["evaluated_on"]
    images, labels = labkit.data.load("emnist-byclass", "test", offline_partition=True)
    images, labels = labkit.data.stratified_subset(images, labels, evaluated["test_size"], seed=evaluated["subset_seed"])
    loader = labkit.data.to_torch_loader(images, labels, batch_size=1000, shuffle=False, normalize=evaluated["normalize"])
    for row in table["rows"]:
        network = models.build(row["network"], num_classes=62, width=row["width"])
        models.load_state(network, folder / "artifacts" / row["file"])
        predicted = models.predict(network, loader, device="cpu").argmax(axis=1)
        precision, recall, f1, _ = sk.precision_recall_fscore_support(labels, predicted, average="weighted",
                                                                      zero_division=0)
        assert (row["accuracy"], row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (np.mean(predicted == labels), precision, recall, f1), abs=1e-4), row
        assert row["parameters"] == sum(p.numel() for p in network.parameters()) and row["train_seconds"] > 0



def test_the_full_marks_benchmark_judges_the_best_model_by_its_median_over_the_seeds():
    """86.0% on a CPU and the offline partition, 87.5% on a GPU and the official split; other runs have none."""
    from benchmarks import full_marks, lab5_recipe

    def rows(accuracies, device="cpu", data="emnist-byclass/offline-partition"):
        return [{"lab": LAB, "seed": seed, "notebook": {"vgg": {"test_accuracy": accuracy}},
                 "trained_on": {"device": device, "data": data}} for seed, accuracy in enumerate(accuracies, 1)]

    best = lab5_recipe.best_model([{"lab": "lab1-mnist", "notebook": {}}, *rows([0.8594, 0.8617, 0.8601])])
    assert (best["median"], best["target"], best["met"], best["seeds"]) == (0.8601, 0.86, True, 3)
    assert lab5_recipe.best_model(rows([0.8594, 0.8599, 0.8617]))["met"] is False  # the median, not the best seed
    assert lab5_recipe.best_model(rows([0.874, 0.876, 0.877], device="cuda", data="emnist-byclass"))["target"] == 0.875
    unknown = lab5_recipe.best_model(rows([0.86], device="cuda"))  # a GPU on the offline partition: no stated target
    assert unknown["target"] is None and unknown["met"] is None
    assert "no benchmark target for gpu / emnist-byclass/offline-partition" in lab5_recipe.best_model_line(unknown)
    assert lab5_recipe.best_model([{"lab": "lab1-mnist", "notebook": {}}]) is None
    shown = full_marks.table({"profile": "full", "seeds": 3, "rows": [], "least_margin": 0.01,
                              "lab5_best_model": best, "target": {"met": True}})
    assert "lab 5's best model (vgg): median 86.01% of 3 seed(s) (85.94%, 86.17%, 86.01%)" in shown
    assert "target >= 86.0% for cpu / emnist-byclass/offline-partition: met" in shown


def test_the_comparison_s_prose_states_the_budget_its_code_sets():
    notebook = read(solution_notebook(LAB))
    code, prose = cell(notebook, "compare-budget").source, " ".join(cell(notebook, "compare-intro").source.split())
    cpu, gpu, quick = map(int, re.search(r"COMPARE_STEPS = sized\(cpu=(\d+), gpu=(\d+), quick=(\d+)\)", code).groups())
    batch, rate = re.search(r"COMPARE_BATCH_SIZE, COMPARE_LEARNING_RATE = (\d+), (\S+)\n", code).groups()
    assert f"on a CPU, {cpu} steps of {batch} images (one pass over {cpu * int(batch):,} training images)" in prose
    assert f"peaking at a learning rate of {float(rate):g}; a GPU takes {gpu:,} steps, the quick profile {quick}." in prose
    assert "print(f\"The budget of every network:" in code  # and the run prints its own

"""labkit.targets: one table of accuracy targets, read by notebooks, hidden tests and the grader."""

from __future__ import annotations

import pytest

from labkit.targets import TARGETS, target
from tests.notebooks import solution_notebook


def test_the_profile_picks_the_target(monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    assert target("lab1-mnist", "cnn") == TARGETS["lab1-mnist"]["cnn"].quick
    monkeypatch.setenv("LABKIT_PROFILE", "full")
    assert target("lab1-mnist", "cnn") == TARGETS["lab1-mnist"]["cnn"].full
    assert target("lab1-mnist", "cnn", "quick") == TARGETS["lab1-mnist"]["cnn"].quick


@pytest.mark.parametrize("lab", sorted(TARGETS))
def test_every_target_is_an_accuracy_and_the_quick_one_is_no_harder(lab):
    for model, chosen in TARGETS[lab].items():
        assert 0 < chosen.quick <= chosen.full < 1, f"{lab}/{model}: {chosen}"


@pytest.mark.parametrize("lab", sorted(TARGETS))
def test_each_lab_reads_every_one_of_its_targets(lab):
    """A target no notebook reads would be a grade the students never see coming."""
    source = solution_notebook(lab).read_text()
    for model in TARGETS[lab]:
        assert f'labkit.targets.target(LAB, \\"{model}\\")' in source, f"{lab} never shows its {model} target"


def test_unknown_names_say_what_exists():
    with pytest.raises(KeyError, match="labs with targets: lab1-mnist"):
        target("lab9", "cnn")
    with pytest.raises(KeyError, match="it has: fc, cnn"):
        target("lab1-mnist", "resnet")
    with pytest.raises(ValueError, match="use one of full, quick"):
        target("lab1-mnist", "fc", "fast")


def test_the_notebook_shows_the_full_targets_whatever_the_profile_and_says_which_it_is_on(monkeypatch, capsys):
    from labkit.targets import describe, show

    full = describe("lab1-mnist", "full").splitlines()
    assert full == ["Targets (the grader measures your saved models against these): fc 97.0%, cnn 98.5%.",
                    "You are on the full profile, the course's: the checks in this notebook use these targets too."]
    quick = describe("lab1-mnist", "quick").splitlines()
    assert quick[0] == full[0]
    assert quick[1].startswith("You are on the quick profile (LABKIT_PROFILE=quick)")
    assert "quick targets (fc 85.0%, cnn 90.0%)" in quick[1]
    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    show("lab5-emnist-deep-models")
    printed = capsys.readouterr().out
    assert "lenet 75.0%, vgg 83.5%, mnist-transfer 98.0%" in printed and "You are on the quick profile" in printed


@pytest.mark.parametrize("lab", sorted(TARGETS))
def test_each_lab_shows_its_targets(lab):
    assert "labkit.targets.show(LAB)" in solution_notebook(lab).read_text(), f"{lab} never shows the full targets"

"""labkit.settings: the one home of the constants a lab's notebook and its grader must agree on.

A constant the grader applies (a tolerance, a learning rate a record must start
at, a gain a model must show) is written once in :mod:`labkit.settings`; the
lab's notebook and its grader both read it there. No grader parses one back out
of a notebook's source, so no edit of a notebook can move a grading threshold.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from labkit import settings
from labkit.profiles import PROFILES, PerProfile, resolve
from tests.notebooks import LAYOUTS, REPO, read, solution_notebook

GRADERS = sorted(path for path in (REPO / "autograder" / "graders").glob("*.py") if path.name != "__init__.py")
READ_IN_A_NOTEBOOK = re.compile(r"""labkit\.settings\.value\(\s*LAB\s*,\s*["'](\w+)["']""")


def test_every_lab_s_settings_resolve_in_both_profiles(monkeypatch):
    assert settings.SETTINGS, "labkit.settings holds no lab"
    for lab, constants in settings.SETTINGS.items():
        assert lab in LAYOUTS, f"labkit.settings names {lab!r}, which is no lab"
        assert constants, f"{lab}'s settings are empty"
        for name in constants:
            for profile in PROFILES:
                found = settings.value(lab, name, profile)
                assert found is not None and not isinstance(found, PerProfile), (lab, name, profile, found)
                monkeypatch.setenv("LABKIT_PROFILE", profile)  # the active profile, as a notebook run has it
                assert settings.value(lab, name) == found, (lab, name, profile)


def test_a_per_profile_setting_gives_each_profile_its_own_value():
    chosen = PerProfile(full=8, quick=3)
    assert [chosen.for_profile(resolve(profile)) for profile in ("full", "quick")] == [8, 3]


def test_an_unknown_lab_or_name_is_a_key_error_that_says_what_there_is():
    lab, constants = next(iter(settings.SETTINGS.items()))
    with pytest.raises(KeyError, match=rf"no settings for lab 'lab9-nothing'; labs with settings: .*{lab}"):
        settings.value("lab9-nothing", next(iter(constants)))
    with pytest.raises(KeyError, match=rf"{lab} has no setting 'NO_SUCH_NAME'; it has: {next(iter(constants))}"):
        settings.value(lab, "NO_SUCH_NAME")


def test_each_notebook_reads_its_lab_s_settings_and_only_settings_that_exist():
    """A setting no notebook reads has no business being shared; a name a notebook reads must resolve."""
    for lab in LAYOUTS:
        source = "\n".join(c.source for c in read(solution_notebook(lab)).cells if c.cell_type == "code")
        read_there = set(READ_IN_A_NOTEBOOK.findall(source))
        for name in read_there:
            settings.value(lab, name, "full")  # a KeyError names what the lab has
        unread = set(settings.SETTINGS.get(lab, {})) - read_there
        assert not unread, f"{lab}'s notebook never reads its settings {sorted(unread)}"


def source_settings_reads(code: str) -> list[int]:
    """The lines where ``code`` uses ``autograder.pipeline.source.settings``: parsing constants out of a
    notebook's source, which a grader must never do."""
    lines = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Attribute) and node.attr == "settings":
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "source") or \
                    (isinstance(owner, ast.Attribute) and owner.attr == "source"):
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("pipeline.source") \
                and any(alias.name == "settings" for alias in node.names):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_every_way_of_reaching_source_settings():
    assert source_settings_reads('x = source.settings(solution, "prepare", "full")["GAIN"]') == [1]
    assert source_settings_reads("import autograder\nread = autograder.pipeline.source.settings") == [2]
    assert source_settings_reads("from autograder.pipeline.source import read, settings") == [1]
    assert source_settings_reads('x = labkit.settings.value(LAB, "GAIN", profile)') == []


def test_every_lab_has_a_grader_module_to_scan():
    assert {path.stem for path in GRADERS} >= {lab.replace("-", "_") for lab in LAYOUTS}


@pytest.mark.parametrize("grader", GRADERS, ids=lambda path: path.stem)
def test_no_grader_parses_a_constant_back_out_of_a_notebook(grader: Path):
    lines = source_settings_reads(grader.read_text())
    assert not lines, (f"{grader.relative_to(REPO)} reads constants out of the source notebook "
                       f"(source.settings, line {', '.join(map(str, lines))}): put them in labkit.settings, "
                       "where the notebook reads them too")

"""The class dashboard: built from a class's real result files, rebuilt by its command, rendered in chromium."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from autograder.comet import review as comet_review
from autograder.graders.lab1_mnist import Grader
from autograder.pipeline.grading import grade, identical_models, result_path
from autograder.pipeline.results import PartResult, SubmissionResult, judged, not_judged, write_result
from autograder.reports import dashboard, feedback
from autograder.scoring.model_fingerprints import ModelFingerprint, SimilarPair
from tests.browser import headless_chromium
from tests.grading_class import options, require_sandbox
from tests.notebooks import released_notebook

LAB = "lab1-mnist"
POINTS = {"test-fc-model": 2.0, "test-fc-accuracy": 2.0, "test-cnn-model": 3.0, "test-cnn-accuracy": 3.0,
          "test-train-step": 4.0}  # solutions/lab1-mnist's graded cells
TARGETS = {"test-fc-accuracy": 0.97, "test-cnn-accuracy": 0.985}  # labkit.targets, full profile
HOSTILE_ID = "<img src=x onerror=\"alert('id')\">"  # no slash: it is a folder name too
HOSTILE_MESSAGE = "</pre><script>alert(\"message\")</script>' \" & <b>bold?</b>"
HOSTILE_ARCHIVE = "<svg onload=alert('archive')>.zip"


# --- a class of hand-made results -----------------------------------------------------------------------


def accuracy(part: str, value: float | None, verdict: str | None = None, message: str = "") -> PartResult:
    """The accuracy part as the grader writes it: judged on the value against lab 1's target."""
    if value is None:
        return not_judged(part, POINTS[part], verdict or "timeout", message or "The model gave no predictions.")
    passed = value >= TARGETS[part] if verdict is None else verdict == "pass"
    return judged(part, POINTS[part], passed, message or f"It reaches {value:.2%}.", value, TARGETS[part])


def step(passed: bool, message: str = "") -> PartResult:
    return judged("test-train-step", POINTS["test-train-step"], passed, message or "as the reference step",
                  "matches" if passed else "differs", "reference step")


def model(part: str, passed: bool, message: str = "") -> PartResult:
    return judged(part, POINTS[part], passed, message or ("as the spec" if passed else "✗ not the spec's layers"))


def fingerprint(name: str) -> ModelFingerprint:
    return ModelFingerprint(f"{sum(map(ord, name)):064x}")


def result(student: str, parts, *, copied_cnn: str | None = None, comet_runs=(), grader_error=None):
    digests = {"fc": fingerprint(student + "fc"), "cnn": fingerprint(copied_cnn or student + "cnn")}
    return SubmissionResult(student, LAB, "hash-" + student, tuple(parts), fingerprints=digests,
                            comet_runs=tuple(comet_runs), grader_error=grader_error, seconds=30.0)


def comet_run(archive: str, model_name: str, logged: float, student_id: str) -> dict:
    """A run as the review reads it from an archive, carrying the student id ``student_id``."""
    return {"archive": archive, "experiment": "x1", "params": {"model": model_name, "student_id": student_id},
            "metrics": {"test_accuracy": logged}}


def class_results() -> list[SubmissionResult]:
    """Lab 1's class: full marks, near misses, an error, a timeout, a copied pair, and a hostile student."""
    full = [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9812), model("test-cnn-model", True),
            accuracy("test-cnn-accuracy", 0.9921), step(True)]
    return [
        result("ada", full, comet_runs=[comet_run("ada-cnn.zip", "cnn", 0.9925, "ada")]),
        result("ben", [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9744),
                       model("test-cnn-model", True), accuracy("test-cnn-accuracy", 0.9803), step(True)],
               comet_runs=[comet_run(HOSTILE_ARCHIVE, "cnn", 0.999, "ben")]),
        result("cleo", [model("test-fc-model", False), accuracy("test-fc-accuracy", 0.978, "fail"),
                        model("test-cnn-model", True), accuracy("test-cnn-accuracy", 0.9899), step(False)]),
        result("dev", [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9701),
                       model("test-cnn-model", True), accuracy("test-cnn-accuracy", None, "timeout"),
                       not_judged("test-train-step", 4.0, "timeout", "The notebook ran past 480 s.")]),
        result("eve", [not_judged(part, points, "error", "The grader failed on this submission.")
                       for part, points in POINTS.items()], grader_error="RuntimeError: the sandbox went away"),
        result("finn", full, copied_cnn="finn"),
        result("gus", [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9655),
                       model("test-cnn-model", True), accuracy("test-cnn-accuracy", 0.9921), step(True)],
               copied_cnn="finn"),
        result("hana", [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9532),
                        model("test-cnn-model", False), accuracy("test-cnn-accuracy", 0.9622, "fail"),
                        step(False)]),
        result(HOSTILE_ID, [model("test-fc-model", True), accuracy("test-fc-accuracy", 0.9889),
                            model("test-cnn-model", False, HOSTILE_MESSAGE),
                            not_judged("test-cnn-accuracy", 3.0, "crashed", HOSTILE_MESSAGE), step(True)]),
    ]


def write_class(out: Path, results: list[SubmissionResult]) -> None:
    """What grading writes that the dashboard reads: result files, feedback pages, the Comet review."""
    for index, each in enumerate(results):
        name = each.student_id if each.student_id.isalnum() else f"student-{index}"
        write_result(each, result_path(out, LAB, name))
        feedback.write_feedback(out / "feedback" / each.student_id / f"{LAB}.html", each)
    rows = comet_review.flag_disagreements(Grader().comet_review(results))
    comet_review.write_index(out / "comet-review.csv", rows, "the lab's test images")


def rebuild(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "dashboard", LAB, str(out)],
                          capture_output=True, text=True, timeout=120)


# --- what the page says, without a browser ------------------------------------------------------------


def test_flags_name_copies_errors_parts_not_judged_and_comet_mismatches():
    results = {each.student_id: each for each in class_results()}
    pairs = identical_models(list(results.values()))
    assert pairs == [SimilarPair("cnn", "finn", "gus", "identical", None)]
    rows = comet_review.flag_disagreements(Grader().comet_review(list(results.values())))

    def flags(student):
        return [(flag.kind, flag.text) for flag in dashboard.student_flags(results[student], pairs, rows)]

    assert flags("ada") == []
    assert flags("gus") == [("copied", "cnn: identical with finn")]
    assert flags("eve") == [("error", "grader error: RuntimeError: the sandbox went away")]
    assert flags("dev") == [("timeout", "timeout: test-cnn-accuracy, test-train-step")]
    assert flags("ben") == [("comet", "Comet cnn: logged 0.9990, measured 0.9803")]
    assert flags(HOSTILE_ID) == [("crashed", "crashed: test-cnn-accuracy")]


def test_the_charts_data_bins_tallies_and_accuracy_parts():
    results = class_results()
    bins = dashboard.score_bins([each.score for each in results], 14.0)
    assert [b.label for b in bins] == [str(i) for i in range(15)]
    assert {b.label: b.count for b in bins if b.count} == {"0": 1, "2": 1, "6": 1, "7": 1, "8": 1, "11": 1, "12": 1,
                                                            "14": 2}
    assert [b.count for b in dashboard.score_bins([0.5, 9.9, 10.0], 10.0)] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert dashboard.tally(results, "test-cnn-accuracy") == dashboard.Tally("test-cnn-accuracy", 4, 2, 3)
    assert dashboard.accuracy_parts(results) == TARGETS  # "reference step" and the models' parts are no accuracy
    assert [m.value for m in dashboard.measured(results, "test-cnn-accuracy")][3:5] == [None, None]
    assert dashboard.fraction(True) is None and dashboard.fraction(float("nan")) is None
    assert dashboard.fraction(1.5) is None and dashboard.fraction(0.5) == 0.5
    assert dashboard.axis_range([0.9812, 0.9921], 0.985) == pytest.approx((0.9762, 0.9971))  # half a point each side
    assert dashboard.axis_range([1.0], 1.0) == (0.98, 1.0) and dashboard.axis_range([0.0], 0.0) == (0.0, 0.02)
    assert dashboard.tick_values(0.95, 1.0) == [0.95, 0.955, 0.96, 0.965, 0.97, 0.975, 0.98, 0.985, 0.99, 0.995, 1.0]


def test_hostile_text_is_escaped_in_the_page_and_the_feedback_link_is_quoted():
    results = class_results()
    page = dashboard.dashboard_html(LAB, results, [], [{"student_id": "ben", "archive": HOSTILE_ARCHIVE,
                                                        "model": "<i>", "logged_test_accuracy": "\"><script>",
                                                        "measured_test_accuracy": 0.98, "flag": "<script>x"}])
    assert "<script" not in page and "<img" not in page and "<svg onload" not in page and "<i>" not in page
    assert "&lt;img src=x onerror=&quot;alert(&#x27;id&#x27;)&quot;&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(&quot;message&quot;)&lt;/script&gt;" in page
    assert dashboard.feedback_link(HOSTILE_ID, LAB) == (
        "../feedback/%3Cimg%20src%3Dx%20onerror%3D%22alert%28%27id%27%29%22%3E/lab1-mnist.html")
    assert "://" not in page  # nothing fetched from anywhere


def test_the_command_rebuilds_the_page_from_the_results_and_refuses_an_ungraded_lab(tmp_path):
    write_class(tmp_path, class_results())
    (tmp_path / "results" / LAB / "broken.json").write_text("{not json")
    built = rebuild(tmp_path)
    assert built.returncode == 0, built.stderr
    page = dashboard.page_path(tmp_path, LAB)
    assert built.stdout.strip() == f"class dashboard: {page}"
    text = page.read_text(encoding="utf-8")
    assert text.count('<tr class="student') == len(class_results())
    assert "logged" in text and "0.9990" in text  # ben's Comet mismatch, read back from comet-review.csv
    assert [p.name for p in page.parent.iterdir()] == [f"{LAB}.html"]  # written atomically: no temporary left
    missing = subprocess.run([sys.executable, "-m", "autograder", "dashboard", "lab2-fashion-mnist", str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no results of lab2-fashion-mnist" in missing.stderr


def test_a_neutralised_csv_cell_reads_back_as_written(tmp_path):
    rows = [{"student_id": "ada", "lab": LAB, "archive": "=HYPERLINK(1).zip", "experiment": "-x", "model": "cnn",
             "logged_test_accuracy": "'quoted", "measured_test_accuracy": 0.98, "flag": "+1"}]
    comet_review.write_index(tmp_path / "review.csv", rows, "the lab's test images")
    read = dashboard.read_review_rows(tmp_path / "review.csv", LAB)
    assert [(r["archive"], r["experiment"], r["logged_test_accuracy"], r["flag"]) for r in read] == [
        ("=HYPERLINK(1).zip", "-x", "'quoted", "+1")]
    assert dashboard.read_review_rows(tmp_path / "review.csv", "lab2-fashion-mnist") == []
    assert dashboard.read_review_rows(tmp_path / "absent.csv", LAB) == []


# --- rendered in headless chromium --------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), "dashboard test")
    try:
        yield driver
    finally:
        driver.quit()


def full_page_png(driver) -> bytes:
    """The whole page, not only the window: chromium's own capture, through the DevTools protocol."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    return base64.b64decode(shot["data"])


def test_the_dashboard_renders_in_chromium(tmp_path, browser):
    from selenium.webdriver.common.by import By

    started = time.perf_counter()
    results = class_results()
    write_class(tmp_path, results)
    assert rebuild(tmp_path).returncode == 0
    page = dashboard.page_path(tmp_path, LAB)
    browser.get(page.as_uri())
    assert browser.title == f"{LAB}: class dashboard"

    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 4  # the histogram, the pass rates, one strip per accuracy part
    assert all(chart.size["width"] > 100 and chart.size["height"] > 50 for chart in charts), \
        [chart.size for chart in charts]
    bars = browser.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) == 15 and sum(bar.size["height"] > 0 for bar in bars) == 8  # 0 to 14; 8 seen
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.rate.pass")) == len(POINTS)
    dots = browser.find_elements(By.CSS_SELECTOR, "circle.dot")
    assert len(dots) == 8 + 6 and all(dot.size["width"] > 0 for dot in dots)  # measured: fc 8, cnn 6

    rows = browser.find_elements(By.CSS_SELECTOR, "table.students tbody tr")
    assert len(rows) == len(results)
    for row in rows:
        link = row.find_element(By.TAG_NAME, "a").get_attribute("href")
        assert Path(unquote(urlparse(link).path)).is_file(), link
    assert rows[0].find_element(By.TAG_NAME, "a").text == HOSTILE_ID  # "<" sorts before letters

    assert browser.find_elements(By.TAG_NAME, "script") == [] and browser.find_elements(By.TAG_NAME, "img") == []
    text = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_ID in text and HOSTILE_ARCHIVE in text
    titles = [chip.get_attribute("title") for chip in browser.find_elements(By.CSS_SELECTOR, "span.chip")]
    assert any(HOSTILE_MESSAGE in title for title in titles)
    flagged = {row.find_element(By.TAG_NAME, "a").text for row in rows if "flagged" in row.get_attribute("class")}
    assert flagged == {"ben", "dev", "eve", "finn", "gus", HOSTILE_ID}

    screenshot = tmp_path / "dashboard.png"
    screenshot.write_bytes(full_page_png(browser))
    assert screenshot.stat().st_size > 20_000
    print(f"\nscreenshot of the dashboard: {screenshot} ({time.perf_counter() - started:.1f} s)")


@pytest.mark.slow
def test_grading_writes_the_dashboard_after_the_csvs(tmp_path, mirror_dir):
    """A class of one untouched notebook, graded for real: the page is there, and links the student's feedback."""
    require_sandbox()
    folder = tmp_path / "class" / "ada" / LAB
    folder.mkdir(parents=True)
    shutil.copy(released_notebook(LAB), folder)
    results = grade(LAB, tmp_path / "class", tmp_path / "out", options=options(mirror_dir))
    page = dashboard.page_path(tmp_path / "out", LAB)
    text = page.read_text(encoding="utf-8")
    assert [r.student_id for r in results] == ["ada"] and text.count('<tr class="student') == 1
    assert f'href="{dashboard.feedback_link("ada", LAB)}"' in text
    assert (page.parent / dashboard.feedback_link("ada", LAB)).resolve().is_file()
    assert page.stat().st_mtime >= (tmp_path / "out" / "comet-review.csv").stat().st_mtime

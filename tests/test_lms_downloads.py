"""Grading straight from an LMS's bulk download (autograder.pipeline.lms_downloads).

The fast tests import downloads built here, hostile entries included, and check
the layout and the line each student gets; no notebook runs. The two slow tests
grade a Canvas ``submissions.zip`` and a Moodle download built from real lab 1
hand-ins (the solution run once, as a student would, and the untouched student
notebook) with the real command line, one grading each, in the quick profile.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.pipeline import lms_downloads
from autograder.pipeline.results import read_result
from autograder.pipeline.submissions import Limits
from autograder.sandbox import archives
from tests.lms_download_builders import (
    LAB,
    canvas_zip,
    lab_files,
    link_member,
    moodle_folder,
    with_raw_name,
    zipped,
)
from tests.grading_class import require_sandbox
from tests.notebooks import REPO, released_notebook

UNTOUCHED = {f"{LAB}.ipynb": released_notebook(LAB).read_bytes()}
RUN = {f"{LAB}.ipynb": b'{"a": "run notebook"}', "artifacts/fc.keras": b"fc", "artifacts/cnn.keras": b"cnn",
       "comet-offline/run.zip": b"an offline run"}
OVERSIZED = 65 * 2**20  # over the 64 MiB a submission's file may have


def imported_files(folder: Path) -> dict[str, dict[str, bytes]]:
    """``{student: {path inside <student>/<lab>/: bytes}}`` of an import's layout."""
    return {student.name: {str(path.relative_to(student / LAB)): path.read_bytes()
                           for path in sorted((student / LAB).rglob("*")) if path.is_file()}
            for student in sorted(folder.iterdir())}


# --- unpacking one student's zip --------------------------------------------------------------------------


@pytest.mark.parametrize(("member", "problem"), [
    ("../../escaped.txt", "a path that leads out of the archive (..)"),
    ("lab1-mnist/../../escaped.txt", "a path that leads out of the archive (..)"),
    ("..\\..\\escaped.txt", "a path that leads out of the archive (..)"),
    ("/tmp/escaped.txt", "an absolute path"),
    ("C:/escaped.txt", "an absolute path"),
    (link_member("lab1-mnist/artifacts/linked.keras"), "a link"),
])
def test_an_archive_with_a_way_out_is_refused_whole_and_nothing_is_written(tmp_path, member, problem):
    extra = [member if isinstance(member, tuple) else (member, b"escaped")]
    (tmp_path / "upload.zip").write_bytes(zipped(RUN, extra=extra))
    with pytest.raises(archives.ArchiveRefused, match=f"is {problem}"):
        archives.unpack(tmp_path / "upload.zip", tmp_path / "into" / "unpacked", Limits())
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["upload.zip"]


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_is_unpacked(tmp_path):
    (tmp_path / "bomb.zip").write_bytes(zipped({"zeros.bin": bytes(50_000)}))
    assert (tmp_path / "bomb.zip").stat().st_size < 1_000
    with pytest.raises(archives.ArchiveRefused, match="50,000 bytes once unpacked, more than the 10,000 allowed"):
        archives.unpack(tmp_path / "bomb.zip", tmp_path / "out", Limits(total_bytes=10_000))
    (tmp_path / "many.zip").write_bytes(zipped({f"{n}.txt": b"" for n in range(30)}))
    with pytest.raises(archives.ArchiveRefused, match="30 files inside, more than the 20 allowed"):
        archives.unpack(tmp_path / "many.zip", tmp_path / "out", Limits(entries=20))
    assert not (tmp_path / "out").exists()


def test_members_that_cannot_be_files_here_are_left_out_with_a_note_and_the_rest_unpacked(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zipped(RUN, extra=[("lab1-mnist/artifacts/XX.bin", b"not utf-8 name"),
                                  ("lab1-mnist/big.bin", bytes(2_000)),
                                  ("lab1-mnist/a/b/c/d/deep.txt", b"deep"),
                                  ("lab1-mnist/artifacts/fc.keras", b"a second fc")])
    (tmp_path / "upload.zip").write_bytes(with_raw_name(data, b"XX.bin", b"\xff\xfe.bin"))
    unpacked = archives.unpack(tmp_path / "upload.zip", tmp_path / "out", Limits(file_bytes=1_000, depth=3))
    assert sorted(unpacked.files) == sorted(f"lab1-mnist/{name}" for name in RUN)
    notes = "\n".join(unpacked.skipped)
    assert "'lab1-mnist/artifacts/\\\\xff\\\\xfe.bin': its name is not UTF-8 text" in notes  # shown escaped
    assert "'lab1-mnist/big.bin': 2,000 bytes, over the limit of 1,000 per file" in notes
    assert "'lab1-mnist/a/b/c/d/deep.txt': folders nested more than 3 levels deep" in notes
    assert "'lab1-mnist/artifacts/fc.keras': could not be unpacked (FileExistsError" in notes
    assert (tmp_path / "out" / "lab1-mnist" / "artifacts" / "fc.keras").read_bytes() == b"fc"  # the first one


# --- a whole download -------------------------------------------------------------------------------------


def canvas_uploads(run: dict[str, bytes], untouched: dict[str, bytes]) -> dict[str, bytes]:
    """A Canvas class: an honest student who uploaded twice (the first a bare notebook zipped, the second, Canvas's
    ``-1``, the run lab folder and a 65 MiB file), a late untouched one (zipped without its folder, with a file
    whose name is not UTF-8), and students whose zips are hostile or broken."""
    with_odd_name = with_raw_name(zipped(untouched, inside=None, extra=[("notes-XX.txt", b"odd")]),
                                  b"notes-XX.txt", b"notes-\xff\xfe.txt")
    return {
        "doeada_1001_5001_lab1-mnist.zip": zipped(untouched),
        "doeada_1001_5011_lab1-mnist-1.zip": zipped(run, extra=[(f"{LAB}/big.bin", bytes(OVERSIZED))]),
        "doeada_1001_5011_screenshot.png": b"a screenshot",
        "lovelacebob_LATE_1002_5002_lab1-mnist.zip": with_odd_name,
        "smithcy_1003_5003_lab1-mnist.zip": zipped(untouched, extra=[("../../escaped.txt", b"x")]),
        "turingal_1004_5004_lab1-mnist.zip": zipped(untouched, extra=[("/tmp/escaped.txt", b"x")]),
        "hopperg_1005_5005_lab1-mnist.zip": zipped(untouched, extra=[link_member(f"{LAB}/artifacts/fc.keras")]),
        "knuthd_1006_5006_lab1-mnist.zip": b"not a zip at all",
        "README.txt": b"not a submission",
        "../escaped_1009_5009_lab1-mnist.zip": zipped(untouched),
    }


CANVAS_REFUSED = {
    "smithcy (Canvas user 1003)": "the member '../../escaped.txt' is a path that leads out of the archive (..)",
    "turingal (Canvas user 1004)": "the member '/tmp/escaped.txt' is an absolute path",
    "hopperg (Canvas user 1005)": "the member 'lab1-mnist/artifacts/fc.keras' is a link",
    "knuthd (Canvas user 1006)": "not a zip archive that can be read (BadZipFile)",
}


def check_canvas_lines(lines: str) -> None:
    """Every student of :func:`canvas_uploads` has their line: imported from what, or refused and why."""
    assert "1001 <- doeada (Canvas user 1001)" in lines
    assert ("1001: graded lab1-mnist-1.zip, the latest of 2 zips; left out: lab1-mnist.zip, screenshot.png"
            in lines)
    assert "1001: left out of lab1-mnist-1.zip: 'lab1-mnist/big.bin': 68,157,440 bytes, over the limit" in lines
    assert "1002 <- lovelacebob (Canvas user 1002)" in lines
    assert "1002: left out of lab1-mnist.zip: 'notes-\\\\xff\\\\xfe.txt': its name is not UTF-8 text" in lines
    for student, why in CANVAS_REFUSED.items():
        assert f"refused {student}: lab1-mnist.zip refused: {why}" in lines
    assert "'README.txt': not named as Canvas names a submission's file" in lines
    assert "'../escaped_1009_5009_lab1-mnist.zip' in the download: a path that leads out of the archive (..)" in lines


def test_a_canvas_zip_becomes_one_folder_per_canvas_user_and_a_line_for_every_other(tmp_path):
    uploads = canvas_uploads(RUN, UNTOUCHED) | {
        "liskovb_1008_5008_lab1-mnist (2).ipynb": UNTOUCHED[f"{LAB}.ipynb"],  # a lone notebook
        "ritchied_1007_5007_notes.txt": b"no lab at all",
    }
    download = canvas_zip(tmp_path / "submissions.zip", uploads)

    imported = lms_downloads.import_download("canvas", download, LAB, tmp_path / "out")

    assert imported.folder == tmp_path / "out" / "imported" / LAB
    assert imported.students == ("1001", "1002", "1008")
    files = imported_files(imported.folder)
    assert files["1001"] == RUN  # the later upload, without the oversized file
    assert files["1002"] == UNTOUCHED
    assert files["1008"] == UNTOUCHED  # graded as lab1-mnist.ipynb
    lines = "\n".join(imported.lines)
    check_canvas_lines(lines)
    assert "1008: no zip of the lab folder, only the notebook lab1-mnist (2).ipynb is graded" in lines
    assert "refused ritchied (Canvas user 1007): no zip of the lab folder and no notebook among its files" in lines
    assert len(imported.refused) == len(CANVAS_REFUSED) + 1
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    report = (tmp_path / "out" / "imported" / f"{LAB}.txt").read_text().splitlines()
    assert sum(line.startswith("refused ") for line in report) == len(imported.refused)

    again = lms_downloads.import_download("canvas", canvas_zip(tmp_path / "fewer.zip", {
        "doeada_1001_5001_lab1-mnist.zip": zipped(RUN)}), LAB, tmp_path / "out")
    assert imported_files(again.folder) == {"1001": RUN}  # an import replaces the one before


def moodle_students(run: dict[str, bytes], untouched: dict[str, bytes]) -> dict[str, dict]:
    """A Moodle class: an honest student who uploaded a zip, an untouched one who uploaded the files themselves
    (one with a name that is not UTF-8), and students whose uploads are hostile or not files."""
    return {
        "Ada Doe_2001_assignsubmission_file_": {"lab1-mnist.zip": zipped(run)},
        "Bob Lovelace_2002_assignsubmission_file_": untouched | {b"notes-\xff.txt": b"odd"},
        "Bob Lovelace_2002_assignsubmission_onlinetext_": {"onlinetext.html": b"<p>my lab</p>"},
        "Dee Knuth_2004_assignsubmission_file_": {"lab1-mnist.zip": zipped(untouched,
                                                                            extra=[("../../escaped.txt", b"x")])},
        "Eve Hopper_2005_assignsubmission_onlinetext_": {"onlinetext.html": b"<p>no file</p>"},
    }


def moodle_download(root: Path, run: dict[str, bytes], untouched: dict[str, bytes]) -> Path:
    moodle_folder(root, moodle_students(run, untouched))
    (root / "Cy Smith_2003_assignsubmission_file_").mkdir()
    os.symlink("/etc/passwd", root / "Cy Smith_2003_assignsubmission_file_" / f"{LAB}.ipynb")
    os.symlink("/etc", root / "Mallory_2099_assignsubmission_file_")
    return root


def check_moodle_lines(lines: str, ids: dict[str, str]) -> None:
    assert f"{ids['2001']} <- Ada Doe (Moodle participant 2001)" in lines
    assert f"{ids['2002']} <- Bob Lovelace (Moodle participant 2002)" in lines
    assert f"{ids['2002']}: notes-\\xff.txt: its name is not UTF-8 text" in lines
    assert f"{ids['2002']}: its onlinetext submission is not graded, only uploaded files" in lines
    assert ("refused Cy Smith (Moodle participant 2003): no file to grade in its submission\n"
            f"  Cy Smith (Moodle participant 2003): {LAB}.ipynb: a link, not a file") in lines
    assert ("refused Dee Knuth (Moodle participant 2004): lab1-mnist.zip refused: the member '../../escaped.txt' "
            "is a path that leads out of the archive (..)") in lines
    assert "refused Eve Hopper (Moodle participant 2005): no zip of the lab folder and no notebook" in lines
    assert "'Mallory_2099_assignsubmission_file_': a link, not a file; left out" in lines


def write_roster(path: Path, rows: list[tuple[str, str]]) -> Path:
    """Moodle's grading worksheet with a student_id column added."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Identifier", "Full name", "Email address", "Status", "Grade", "student_id"])
        for identifier, student in rows:
            writer.writerow([identifier, "someone", f"{student}@example.edu", "Submitted", "", student])
    return path


def test_a_moodle_folder_becomes_one_folder_per_roster_student_and_a_line_for_every_other(tmp_path):
    download = moodle_download(tmp_path / "download", RUN, UNTOUCHED)
    # Moodle before 3.1, or "Download submissions in folders" off: flat files named after the student
    (download / "Fay Turing_2006_assignsubmission_file_lab1-mnist.ipynb").write_bytes(UNTOUCHED[f"{LAB}.ipynb"])
    (download / "Gus Ritchie_2007_assignsubmission_file_").mkdir()
    (download / "Gus Ritchie_2007_assignsubmission_file_" / f"{LAB}.ipynb").write_bytes(b"{}")
    roster = write_roster(tmp_path / "worksheet.csv", [
        ("Participant 2001", "ada"), ("Participant 2002", "bob"), ("Participant 2003", "cy"),
        ("Participant 2004", "dee"), ("Participant 2005", "eve"), ("Participant 2006", "fay"),
        ("Participant 2007", "ada")])

    imported = lms_downloads.import_download("moodle", download, LAB, tmp_path / "out", roster=roster)

    assert imported.students == ("ada", "bob", "fay")
    files = imported_files(imported.folder)
    assert files == {"ada": RUN, "bob": UNTOUCHED, "fay": UNTOUCHED}  # Fay: Moodle's flat name, before 3.1
    lines = "\n".join(imported.lines)
    check_moodle_lines(lines, {"2001": "ada", "2002": "bob"})
    assert "refused Gus Ritchie (Moodle participant 2007): ada is the student id of Ada Doe" in lines

    without = lms_downloads.import_download("moodle", download, LAB, tmp_path / "plain")
    assert without.students == ("2001", "2002", "2006", "2007")  # Moodle's participant ids


def test_a_roster_maps_canvas_ids_and_refuses_the_students_it_lacks_or_names_twice(tmp_path):
    download = canvas_zip(tmp_path / "submissions.zip", {
        "doeada_1001_5001_lab1-mnist.zip": zipped(RUN), "lovelacebob_1002_5002_lab1-mnist.zip": zipped(UNTOUCHED),
        "smithcy_1003_5003_lab1-mnist.zip": zipped(UNTOUCHED), "turingal_1004_5004_lab1-mnist.zip": zipped(RUN)})
    roster = tmp_path / "gradebook.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,lab1-mnist,student_id\n"
                      "    Points Possible,,,,,14,\n"
                      "Doe Ada,1001,,,,,ada\nLovelace Bob,1002,,,,,bad id!\nSmith Cy,1003,,,,,cy\n"
                      "Smith Cy again,1003,,,,,cy2\n", encoding="utf-8")

    imported = lms_downloads.import_download("canvas", download, LAB, tmp_path / "out", roster=roster)

    assert imported.students == ("ada",)
    assert imported.refused == (
        "lovelacebob (Canvas user 1002): the roster's student_id 'bad id!' is not a usable student id (letters, "
        "digits, . _ - only)",
        f"smithcy (Canvas user 1003): more than one row of the roster {roster} has this id; keep one",
        f"turingal (Canvas user 1004): not in the roster {roster}; add their row to grade them")
    worksheet = write_roster(tmp_path / "worksheet.csv", [("Participant 1", "x")])
    with pytest.raises(ValueError, match="has no ID column"):
        lms_downloads.import_download("canvas", download, LAB, tmp_path / "out", roster=worksheet)


def test_a_download_that_is_not_the_lms_s_says_what_it_holds(tmp_path):
    download = canvas_zip(tmp_path / "submissions.zip", {"doeada_1001_5001_lab1-mnist.zip": zipped(RUN)})
    with pytest.raises(FileNotFoundError, match="no student's submission in the moodle download .* it holds "
                                                "doeada_1001_5001_lab1-mnist.zip"):
        lms_downloads.import_download("moodle", download, LAB, tmp_path / "out")
    (tmp_path / "not.zip").write_bytes(b"nope")
    with pytest.raises(ValueError, match="is not a zip archive that can be read"):
        lms_downloads.import_download("canvas", tmp_path / "not.zip", LAB, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_moodle_zip_is_read_as_its_folder_would_be(tmp_path):
    students = moodle_students(RUN, UNTOUCHED)
    with zipfile.ZipFile(tmp_path / "course-lab1-123.zip", "w") as download:
        for folder, files in students.items():
            for name, data in files.items():
                download.writestr(f"{folder}/{name if isinstance(name, str) else 'notes-X.txt'}", data)
        download.writestr(f"Cy Smith_2003_assignsubmission_file_/{LAB}.ipynb", b"x")
        download.writestr(link_member("Cy Smith_2003_assignsubmission_file_/artifacts/fc.keras")[0], b"/etc/passwd")
    data = with_raw_name((tmp_path / "course-lab1-123.zip").read_bytes(), b"notes-X.txt", b"notes-\xff.txt")
    (tmp_path / "course-lab1-123.zip").write_bytes(data)

    imported = lms_downloads.import_download("moodle", tmp_path / "course-lab1-123.zip", LAB, tmp_path / "out")

    assert imported.students == ("2001", "2002", "2003")
    assert imported_files(imported.folder) == {"2001": RUN, "2002": UNTOUCHED, "2003": {f"{LAB}.ipynb": b"x"}}
    lines = "\n".join(imported.lines)
    assert "2002: notes-\\xff.txt: its name is not UTF-8 text" in lines
    assert ("'Cy Smith_2003_assignsubmission_file_/artifacts/fc.keras' in the download: a link; left out"
            in lines)
    assert "refused Dee Knuth (Moodle participant 2004): lab1-mnist.zip refused: the member '../../escaped.txt'" \
        in lines


# --- graded with the real command line ------------------------------------------------------------------------

ARTIFACT_PARTS = ("test-fc-accuracy", "test-cnn-accuracy")
"""The parts judged on the trained models in artifacts/: they pass only if the models came through the import."""


def grade_download(kind: str, download: Path, out: Path, mirror_dir: Path, *options: str):
    """``python -m autograder grade LAB DOWNLOAD --from KIND``: one worker, the quick profile's targets."""
    return subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(download), "--from", kind,
                           "--out", str(out), "--profile", "quick", "--workers", "1", *options],
                          capture_output=True, text=True, timeout=1800, cwd=REPO,
                          env={**os.environ, "LABKIT_DATA_DIR": str(mirror_dir)})


def check_graded(ran, out: Path, honest: str, untouched: str) -> None:
    """The honest student scores, with the artifact parts passing; the untouched one scores 0; grades.csv has the
    two of them, under these ids, and no one else."""
    assert ran.returncode == 3, ran.stdout[-3000:] + ran.stderr[-3000:]  # graded; some students refused
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == sorted([honest, untouched])
    results = {student: read_result(out / "results" / LAB / f"{student}.json") for student in rows}
    verdicts = {student: {part.part: part.verdict for part in result.parts} for student, result in results.items()}
    assert results[honest].score > 0 and all(verdicts[honest][part] == "pass" for part in ARTIFACT_PARTS), verdicts
    assert results[untouched].score == 0 and results[untouched].status == "graded", verdicts
    assert float(rows[honest]["score"]) == results[honest].score and rows[untouched]["score"] == "0"


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_canvas_submissions_zip_is_graded_under_each_student_s_canvas_id(tmp_path, solution_run, mirror_dir):
    require_sandbox()
    run = lab_files(solution_run(LAB).folder)
    download = canvas_zip(tmp_path / "submissions.zip", canvas_uploads(run, UNTOUCHED))

    ran = grade_download("canvas", download, tmp_path / "out", mirror_dir)

    check_graded(ran, tmp_path / "out", honest="1001", untouched="1002")
    check_canvas_lines(ran.stdout)
    assert f"{len(CANVAS_REFUSED)} student folder(s) refused, not graded" in ran.stdout


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_moodle_download_is_graded_under_each_student_s_roster_id(tmp_path, solution_run, mirror_dir):
    require_sandbox()
    run = lab_files(solution_run(LAB).folder)
    download = moodle_download(tmp_path / "download", run, UNTOUCHED)
    roster = write_roster(tmp_path / "worksheet.csv", [
        ("Participant 2001", "ada"), ("Participant 2002", "bob"), ("Participant 2003", "cy"),
        ("Participant 2004", "dee"), ("Participant 2005", "eve")])

    ran = grade_download("moodle", download, tmp_path / "out", mirror_dir, "--roster", str(roster))

    check_graded(ran, tmp_path / "out", honest="ada", untouched="bob")
    check_moodle_lines(ran.stdout, {"2001": "ada", "2002": "bob"})
    assert "3 student folder(s) refused, not graded" in ran.stdout


def test_the_grade_command_says_what_is_wrong_before_grading_anything(tmp_path, capsys):
    from autograder.__main__ import main

    (tmp_path / "class").mkdir()
    assert main(["grade", LAB, str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                 "--roster", str(tmp_path / "r.csv")]) == 2
    assert "--roster maps Canvas's or Moodle's ids: use it with --from canvas" in capsys.readouterr().err
    assert main(["grade", LAB, str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--from", "nbgrader"]) == 2
    assert "is not an nbgrader course directory: it holds no submitted/ folder" in capsys.readouterr().err
    download = canvas_zip(tmp_path / "submissions.zip", {
        "smithcy_1003_5003_lab1-mnist.zip": zipped(UNTOUCHED, extra=[("../../escaped.txt", b"x")])})
    assert main(["grade", LAB, str(download), "--out", str(tmp_path / "out"), "--from", "canvas"]) == 2
    captured = capsys.readouterr()
    assert "refused smithcy (Canvas user 1003): lab1-mnist.zip refused: the member '../../escaped.txt'" \
        in captured.out
    assert "no student of the canvas download could be imported; the lines above say why" in captured.err

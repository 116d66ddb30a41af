"""`jwql-dagster make-archive` builds the archive with a progress bar and refuses foreign folders."""

from __future__ import annotations

import json

from jwql_dagster.cli import main


def test_make_archive_command(tmp_path, capsys):
    root = tmp_path / "archive"
    assert main(["make-archive", str(root), "--programs", "2", "--seed", "4", "--with-bad-files"]) == 0
    out, err = capsys.readouterr()
    assert "make-archive" in err and "100%" in err  # the progress bar ran to the end
    truth = json.loads((root / "synthetic_truth.json").read_text())
    assert f"{len(truth['files'])} files" in out and "6 bad files" in out
    assert str(root / "synthetic_truth.json") in out
    assert truth["seed"] == 4 and len(truth["programs"]) == 2
    assert {p["area"] for p in truth["programs"]} == {"public", "proprietary"}
    assert all((root / rel).is_file() for rel in truth["files"])


def test_make_archive_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("not ours")
    assert main(["make-archive", str(tmp_path)]) == 1
    _, err = capsys.readouterr()
    assert "refusing" in err and str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


def test_make_archive_rejects_bad_arguments(tmp_path, capsys):
    for argv in (["--programs", "0"], ["--size", "huge"], ["--seed", "x"]):
        try:
            main(["make-archive", str(tmp_path / "a"), *argv])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} accepted")
        assert "make-archive" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()

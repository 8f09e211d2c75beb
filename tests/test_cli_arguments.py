"""Field report 22.4: no argument is read as a file of arguments except through ``--args-file`` of the four
commands the workflow passes folder lists to; ``@name`` is a plain argument everywhere."""

from __future__ import annotations

import json

import pytest

from losstopo import cli
from losstopo.io import InputFileError, load_argument_file, save_argument_file


def test_an_at_sign_is_a_plain_argument_for_every_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil").write_text("--checkpoints-out\nstolen.csv\n")
    parser = cli.build_parser()
    args = parser.parse_args(cli.expand_args_files(["aggregate", "--run-dirs", "@res/runs/a", "--out", "@evil"]))
    assert args.run_dirs == ["@res/runs/a"] and args.out == "@evil" and args.checkpoints_out is None
    args = parser.parse_args(cli.expand_args_files(["figures", "--runs", "@r.csv", "--out-dir", "@evil"]))
    assert args.out_dir == "@evil"


def test_args_file_splices_its_lines_verbatim(tmp_path):
    folders = ["res/runs/pinn/beta~1/seed~0", "@odd folder/with spaces", " lead", "--not-an-option-here"]
    save_argument_file(tmp_path / "a.args", ["--run-dirs", *folders[:3]])
    assert load_argument_file(tmp_path / "a.args") == ["--run-dirs", *folders[:3]]
    argv = ["aggregate", "--args-file", str(tmp_path / "a.args"), "--out", "runs.csv"]
    args = cli.build_parser().parse_args(cli.expand_args_files(argv))
    assert args.run_dirs == folders[:3] and args.out == "runs.csv"
    argv = ["invariance", f"--args-file={tmp_path / 'a.args'}", "--out", "i.csv", "--summary-out", "s.csv"]
    assert cli.build_parser().parse_args(cli.expand_args_files(argv)).run_dirs == folders[:3]
    with pytest.raises(ValueError, match="line break"):
        save_argument_file(tmp_path / "b.args", ["a\nb"])


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--family", "pinn", "--params", "{}", "--seed", "0", "--out-dir", "o"],
        ["topology", "l.npz", "--out-dir", "o"],
        ["explorer", "results"],
        ["figures", "--runs", "r.csv", "--out-dir", "o"],
    ],
)
def test_commands_the_workflow_passes_no_file_to_refuse_args_file(argv, tmp_path, capsys):
    save_argument_file(tmp_path / "a.args", ["--out", "x"])
    argv = cli.expand_args_files([*argv, "--args-file", str(tmp_path / "a.args")])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(argv)
    assert "--args-file" in capsys.readouterr().err


def test_no_abbreviation_can_stand_for_args_file(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["aggregate", "--args", "x", "--run-dirs", "a", "--out", "b"])
    assert "unrecognized arguments: --args" in capsys.readouterr().err


def test_a_missing_or_cut_short_args_file_is_named(tmp_path, capsys):
    assert cli.main(["aggregate", "--args-file", str(tmp_path / "none.args"), "--out", "x.csv"]) == 2
    assert f"{tmp_path / 'none.args'}: argument file not found" in capsys.readouterr().err
    (tmp_path / "cut.args").write_text("--run-dirs\nres/runs/pin")
    with pytest.raises(InputFileError, match="cut.args: argument file does not end with a line break"):
        load_argument_file(tmp_path / "cut.args")


def test_a_results_folder_starting_with_at_runs_the_summary_commands(tmp_path, monkeypatch):
    """`results: "@res"` used to fail every job: the folder lists named "@res/runs/..." were read as files."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "@res" / "runs" / "x"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": "x", "family": "pinn", "seed": 0, "swept": {}, "hp": {}}))
    save_argument_file(tmp_path / "conn.args", ["--path-files"])
    code = cli.main(["connectivity-table", "--args-file", "conn.args", "--out", "@res/tables/connectivity.csv"])
    assert code == 0 and (tmp_path / "@res" / "tables" / "connectivity.csv").is_file()

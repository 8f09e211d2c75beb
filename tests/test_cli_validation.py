"""Field report 22.9: every entry point validates as the config does (shared code): the CLI's JSON options
(--params, --landscape, --settings) and every option that mirrors a config setting stop the command with the
key named, before any training or sampling."""

from __future__ import annotations

import pytest

from losstopo import cli
from losstopo.sweep.config import ConfigError, validate_config, validate_hparams


@pytest.mark.parametrize(
    "params, words",
    [
        ('{"beta": NaN}', "config key 'params.beta': nan is not a finite number"),
        ('{"beta": Infinity}', "config key 'params.beta': inf is not a finite number"),
        ('{"width": 3.5}', "config key 'params.width': 3.5 is not a whole number"),
        ('{"width": 0}', "config key 'params.width': 0 is less than the minimum of 1"),
        ('{"activation": "swish"}', "config key 'params.activation': 'swish' is not one of"),
        ('{"bogus": 1}', "config key 'params.bogus': unknown key"),
    ],
)
def test_train_refuses_what_the_config_refuses_before_training(params, words, tmp_path, capsys):
    argv = ["train", "--family", "pinn", "--params", params, "--seed", "0", "--out-dir", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, value", [("beta", float("nan")), ("width", 2.5), ("lr", 0)])
def test_the_cli_and_the_config_say_the_same(key, value):
    with pytest.raises(ConfigError) as cli_error:
        validate_hparams("pinn", {key: value})
    with pytest.raises(ConfigError) as config_error:
        validate_config({"families": {"pinn": {"seeds": [0], "params": {key: value}}}})
    problem = str(cli_error.value).split(f"'params.{key}': ")[1]
    assert f"config key 'families.pinn.params.{key}': {problem}" in str(config_error.value)


def test_a_json_hyperparameter_is_typed_as_in_the_config():
    hp = validate_hparams("pinn", {"width": 8.0, "beta": 30})
    assert hp["width"] == 8 and isinstance(hp["width"], int) and hp["beta"] == 30.0 and isinstance(hp["beta"], float)


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["sample", "--directions", "d.npz", "--landscape", '{"resolution": 2}', "--out", "l.npz"],
            "landscape.resolution",
        ),
        (["sample", "--directions", "d.npz", "--landscape", '{"span": NaN}', "--out", "l.npz"], "landscape.span"),
        (
            ["hessian", "--settings", '{"trace": {"min_probes": 20, "max_probes": 10}}', "--out-json", "h.json"],
            "config key 'hessian.trace': min_probes 20 is more than max_probes 10",
        ),
        (["hessian", "--settings", '{"eig_tol": -1}', "--out-json", "h.json"], "config key 'hessian.eig_tol'"),
    ],
)
def test_stage_settings_are_checked_before_the_model_is_read(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = ["--out-density", "d.npz"] if argv[0] == "hessian" else []
    assert cli.main([*argv, *extra, "--run-dir", str(tmp_path / "no-such-run")]) == 2
    err = capsys.readouterr().err
    assert words in err and "no-such-run" not in err, err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["topology", "l.npz", "--out-dir", "o", "--threshold", "nan"], "'topology.threshold': 'nan' is not of type"),
        (["topology", "l.npz", "--out-dir", "o", "--threshold", "1e400"], "'topology.threshold': inf is not a finite"),
        (["topology", "l.npz", "--out-dir", "o", "--knn", "0"], "config key 'topology.knn'"),
        (
            ["connectivity", "--run-b", "b", "--runs-a", "a", "--out", "p.json", "--points", "2"],
            "'connectivity.points'",
        ),
        (["figures", "--runs", "r.csv", "--out-dir", "f", "--heatmaps", "0"], "'figures.heatmaps'"),
        (
            ["train", "--family", "pinn", "--params", "{}", "--out-dir", "o", "--seed", "-1"],
            "'families.<name>.seeds[]': -1 is less than the minimum of 0",
        ),
        (
            ["train", "--family", "pinn", "--params", "{}", "--out-dir", "o", "--seed", "0", "--checkpoints", "5,0"],
            "'families.<name>.checkpoints[]': 0 is less than the minimum of 1",
        ),
        (["checkpoint", "--run-dir", "r", "--out-dir", "o", "--epoch", "-2"], "'families.<name>.checkpoints[]'"),
        (["findings", "--runs", "r.csv", "--out-dir", "f", "--bootstrap", "-1"], "'findings.bootstrap'"),
        (
            ["invariance", "--out", "i.csv", "--summary-out", "s.csv", "--tolerance", "nan"],
            "'findings.invariance_tolerance'",
        ),
        (
            ["profile-grid", "--run-dirs", "a", "--out-svg", "a.svg", "--out-png", "a.png", "--levels", "1"],
            "'profile.levels'",
        ),
    ],
)
def test_options_that_mirror_a_config_setting_are_checked_as_the_config_checks_it(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


def test_a_valid_option_is_typed_as_in_the_config():
    args = cli.build_parser().parse_args(["topology", "l.npz", "--out-dir", "o", "--knn", "8.0", "--threshold", "0"])
    assert args.knn == 8 and isinstance(args.knn, int) and args.threshold == 0.0 and isinstance(args.threshold, float)

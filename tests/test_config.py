"""Config validation (every error names its key) and sweep expansion (canonical run paths)."""

import copy
import json
import time
from pathlib import Path

import pytest
import yaml

from losstopo.sweep.config import ConfigError, canonical, expand_runs, load_config_file, validate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def base():
    return {"families": {"pinn": {"seeds": [0], "sweep": {"beta": [1, 10]}}}}


def test_default_config_validates_and_covers_the_beta_transition():
    config = load_config_file(REPO / "config" / "config.yaml")
    runs = expand_runs(config)
    pinn_betas = {run.swept["beta"] for run in runs.values() if run.family == "pinn"}
    assert {1, 10, 20, 30, 40} <= pinn_betas
    assert "pinn/beta~30/seed~0" in runs


def test_defaults_filled_in(base):
    config = validate_config(base)
    assert config["landscape"]["resolution"] >= 3
    assert config["topology"]["graph"] == "freudenthal"
    assert config["families"]["pinn"]["params"] == {}
    assert "landscape" not in base  # input left untouched


@pytest.mark.parametrize(
    "value, spelling",
    [
        (30, "30"),
        (30.0, "30"),
        (0.001, "0.001"),
        (1e-5, "1e-05"),
        (True, "true"),
        ("tanh", "tanh"),
        (2.5, "2.5"),
    ],
)
def test_canonical_spelling(value, spelling):
    assert canonical(value) == spelling


def test_run_ids_are_the_product_of_sweep_and_seeds(base):
    base["families"]["pinn"]["seeds"] = [0, 1]
    base["families"]["pinn"]["sweep"]["lr"] = [1.0, 0.5]
    runs = expand_runs(validate_config(base))
    assert len(runs) == 2 * 2 * 2
    run = runs["pinn/beta~10/lr~0.5/seed~1"]
    assert run.hp["beta"] == 10 and run.hp["lr"] == 0.5 and run.seed == 1
    assert run.swept == {"beta": 10, "lr": 0.5}


def test_fixed_params_reach_every_run(base):
    base["families"]["pinn"]["params"] = {"width": 8}
    runs = expand_runs(validate_config(base))
    assert {run.hp["width"] for run in runs.values()} == {8}


def _error(config) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(bogus=1), "bogus"),
        (lambda c: c["families"]["pinn"].setdefault("params", {}).update(widht=3), "families.pinn.params.widht"),
        (lambda c: c["families"]["pinn"]["sweep"].update(betta=[1]), "families.pinn.sweep.betta"),
        (lambda c: c["families"]["pinn"]["sweep"].update(beta=[]), "families.pinn.sweep.beta"),
        (lambda c: c["families"]["pinn"]["sweep"].update(beta=[1, 1.0]), "families.pinn.sweep.beta"),
        (lambda c: c["families"]["pinn"]["sweep"].update(beta=["x"]), "families.pinn.sweep.beta[0]"),
        (lambda c: c.update(landscape={"resolution": 2}), "landscape.resolution"),
        (lambda c: c.update(landscape={"span": 0}), "landscape.span"),
        (lambda c: c.update(landscape={"span": -1.0}), "landscape.span"),
        (lambda c: c.update(landscape={"dim": "two"}), "landscape.dim"),
        (lambda c: c["families"]["pinn"].update(seeds=[]), "families.pinn.seeds"),
        (lambda c: c["families"]["pinn"].update(landscape={"resolution": 1}), "families.pinn.landscape.resolution"),
        (lambda c: c.update(families={"transformer": {"seeds": [0]}}), "families.transformer"),
        (lambda c: c.update(topology={"graph": "knn"}), "topology.graph"),
    ],
)
def test_bad_config_names_the_key(base, mutate, key):
    config = copy.deepcopy(base)
    mutate(config)
    assert f"'{key}'" in _error(config)


def test_sweep_and_fixed_in_two_places_is_an_error(base):
    base["families"]["pinn"]["params"] = {"beta": 3}
    assert "families.pinn.sweep.beta" in _error(base)


def test_unreadable_config_file_is_named(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("families: [unclosed")
    with pytest.raises(ConfigError, match="c.yaml"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config_file(tmp_path / "missing.yaml")


def test_validate_config_cli_lists_runs(tmp_path, capsys):
    from losstopo.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"families": {"pinn": {"seeds": [3], "sweep": {"beta": [2]}}}}))
    assert main(["validate-config", str(path)]) == 0
    assert "pinn/beta~2/seed~3" in capsys.readouterr().out


def test_config_reference_is_up_to_date():
    """config/README.md's key tables are generated: regenerate with
    python -m losstopo.sweep.config_docs config/README.md."""
    from losstopo.sweep.config_docs import render

    assert render() in (REPO / "config" / "README.md").read_text()


def test_family_hessian_override(base):
    base["hessian"] = {"top_k": 3}
    base["families"]["pinn"]["hessian"] = {"enabled": False}
    run = next(iter(expand_runs(validate_config(base)).values()))
    assert run.hessian["enabled"] is False and run.hessian["top_k"] == 3
    base["families"]["pinn"]["hessian"] = {"top_k": -1}
    assert "'families.pinn.hessian.top_k'" in _error(base)


@pytest.mark.parametrize(
    "hessian, reuses",
    [
        ({"top_k": 2}, True),
        ({"top_k": 4}, False),  # more pairs than the 3 directions hold
        ({"top_k": 2, "eig_tol": 1e-3}, False),  # pairs at another tolerance
        ({"top_k": 2, "precision": "float32"}, False),  # directions' pairs are float64
    ],
)
def test_the_hessian_stage_reuses_hessian_directions_only_when_they_hold_its_pairs(base, hessian, reuses):
    base["families"]["pinn"]["landscape"] = {"directions": "hessian", "dim": 3}
    base["families"]["pinn"]["hessian"] = hessian
    run = next(iter(expand_runs(validate_config(base)).values()))
    assert run.hessian_reuses_directions() is reuses


def test_paper_config_validates():
    runs = expand_runs(load_config_file(REPO / "config" / "paper.yaml"))
    assert any(run.landscape["dim"] == 4 and run.landscape["resolution"] == 41 for run in runs.values())
    assert {run.family for run in runs.values()} == {"pinn", "resnet", "unet"}


# ------------------------------------------------------------------------------ typed values, one spelling


def _runs(config):
    return expand_runs(validate_config(config))


@pytest.mark.parametrize("spellings", [[1, 1.0, "1e0", "1.0e+0"], [0, -0.0, 0.0, "-0"], [0.001, "1e-3", 1e-3]])
def test_every_spelling_of_a_number_is_one_run_with_one_params(base, spellings):
    seen = set()
    for value in spellings:
        base["families"]["pinn"]["sweep"]["beta"] = [value]
        (run,) = _runs(base).values()
        seen.add((run.run_id, json.dumps(run.hp, sort_keys=True)))
        assert type(run.hp["beta"]) is float
    assert len(seen) == 1, seen


def test_two_spellings_of_one_value_in_a_sweep_are_a_repeated_value(base):
    base["families"]["pinn"]["sweep"]["beta"] = [0, -0.0]
    assert "repeated value" in _error(base)


def test_a_fixed_default_given_as_an_int_changes_no_params(base):
    plain = next(iter(_runs(base).values()))
    base["families"]["pinn"]["params"] = {"lr": 1, "width": 50.0}  # the defaults 1.0 and 50, respelled
    respelled = next(iter(_runs(base).values()))
    assert json.dumps(plain.hp, sort_keys=True) == json.dumps(respelled.hp, sort_keys=True)
    assert type(respelled.hp["width"]) is int


def test_whole_floats_become_integers_everywhere(base):
    base["families"]["pinn"].update(seeds=[0.0, 2.0], checkpoints=[1.0], params={"lbfgs_steps": 100.0})
    base["hessian"] = {"top_k": 2.0, "trace": {"max_probes": 10.0}}
    base["landscape"] = {"resolution": 5.0, "batch_size": 64.0}
    base["topology"] = {"knn": 8.0}
    config = validate_config(base)
    run = expand_runs(config)["pinn/beta~1/seed~2"]
    assert (run.seed, run.checkpoints, run.hp["lbfgs_steps"]) == (2, (1,), 100)
    values = [
        run.seed,
        *run.checkpoints,
        run.hp["lbfgs_steps"],
        config["hessian"]["top_k"],
        config["hessian"]["trace"]["max_probes"],
        config["landscape"]["resolution"],
        config["landscape"]["batch_size"],
        config["topology"]["knn"],
    ]
    assert all(type(v) is int for v in values), values


def test_json_and_yaml_exponents_are_numbers(tmp_path):
    config = {"families": {"pinn": {"seeds": [0], "sweep": {"lr": [1e-3]}}}, "hessian": {"eig_tol": 1e-6}}
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps(config).replace("0.001", "1e-3"))
    as_yaml = tmp_path / "c.yaml"
    as_yaml.write_text("families: {pinn: {seeds: [0], sweep: {lr: [1e-3]}}}\nhessian: {eig_tol: 1e-6}\n")
    assert yaml.safe_load(as_yaml.read_text())["hessian"]["eig_tol"] == "1e-6"  # what YAML 1.1 makes of it
    for path in (as_json, as_yaml):
        loaded = load_config_file(path)
        assert loaded["hessian"]["eig_tol"] == 1e-6
        assert list(expand_runs(loaded)) == ["pinn/lr~0.001/seed~0"]


def test_text_stays_text_where_a_key_takes_text(base):
    base["families"]["pinn"]["params"] = {"activation": "tanh"}
    base["landscape"] = {"batch_size": "auto"}
    assert validate_config(base)["landscape"]["batch_size"] == "auto"
    base["landscape"] = {"batch_size": "1e3"}  # a number key that also takes text: not converted
    assert "'landscape.batch_size'" in _error(base)


@pytest.mark.parametrize(
    "mutate, key, value",
    [
        (lambda c: c["families"]["pinn"].update(seeds=[0.5]), "families.pinn.seeds[0]", "0.5"),
        (lambda c: c["families"]["pinn"].update(params={"width": 8.5}), "families.pinn.params.width", "8.5"),
        (lambda c: c["families"]["pinn"]["sweep"].update(width=[8, 8.5]), "families.pinn.sweep.width[1]", "8.5"),
        (lambda c: c["families"]["pinn"].update(checkpoints=[1.5]), "families.pinn.checkpoints[0]", "1.5"),
        (lambda c: c.update(hessian={"top_k": 2.5}), "hessian.top_k", "2.5"),
        (lambda c: c.update(hessian={"trace": {"max_probes": 10.5}}), "hessian.trace.max_probes", "10.5"),
        (
            lambda c: c["families"]["pinn"].update(hessian={"density": {"n_probes": 1.5}}),
            "families.pinn.hessian.density.n_probes",
            "1.5",
        ),
        (lambda c: c.update(topology={"knn": 2.5}), "topology.knn", "2.5"),
        (lambda c: c.update(landscape={"batch_size": 3.5}), "landscape.batch_size", "3.5"),
        (lambda c: c.update(findings={"bootstrap": 1e2 + 0.5}), "findings.bootstrap", "100.5"),
        (lambda c: c["families"]["pinn"]["sweep"].update(beta=[float("inf")]), "families.pinn.sweep.beta[0]", "inf"),
    ],
)
def test_a_fractional_integer_or_non_finite_number_names_key_and_value(base, mutate, key, value):
    mutate(base)
    message = _error(base)
    assert f"config key '{key}': {value}" in message, message


@pytest.mark.parametrize(
    "family, mutate, key, words",
    [
        (
            "pinn",
            lambda f: f.update(checkpoints=[3], params={"lbfgs_steps": 100}),
            "families.pinn.checkpoints",
            "epoch(s) 3 after the last epoch: these runs train for 2 epoch(s)",
        ),
        (
            "pinn",
            lambda f: f.update(
                checkpoints=[30, 31], params={"optimizer": "adam+lbfgs", "adam_steps": 1000, "lbfgs_steps": 500}
            ),
            "families.pinn.checkpoints",
            "epoch(s) 31 after the last epoch: these runs train for 30 epoch(s)",
        ),  # 1000 Adam + 500 L-BFGS steps
        (
            "unet",
            lambda f: f.update(checkpoints=[2, 5], sweep={"epochs": [3, 4]}),
            "families.unet.checkpoints",
            "epoch(s) 5 after the last epoch: these runs train for 3 epoch(s) (in 1 grid point(s) of the sweep, "
            "e.g. epochs=3)",
        ),
        ("resnet", lambda f: f.update(sweep={"depth": [8, 10]}), "families.resnet", "depth=10: a CIFAR ResNet"),
        ("unet", lambda f: f.update(params={"image_size": 18}), "families.unet", "image_size=18, depth=2"),
        ("unet", lambda f: f.update(params={"n_images": 10, "eval_size": 5}), "families.unet", "eval_size=5 exceeds"),
        ("unet", lambda f: f.update(params={"n_images": 1}), "families.unet", "needs at least 2"),
        ("unet", lambda f: f.update(params={"dataset": "pets", "n_images": 8000}), "families.unet", "only 7390"),
        (
            "pinn",
            lambda f: f.update(hessian={"trace": {"min_probes": 20, "max_probes": 10}}),
            "families.pinn.hessian.trace",
            "min_probes 20 is more than max_probes 10",
        ),
        (
            "pinn",
            lambda f: f.update(landscape={"dim": 63, "resolution": 3}),
            "families.pinn.landscape.dim",
            "at most 62",
        ),
        (
            "pinn",
            lambda f: f.update(landscape={"sampling": "sobol", "n_samples": 4}),
            "topology.knn",
            "8 neighbours but families.pinn.landscape.n_samples is 4",
        ),
    ],
)
def test_checks_across_keys_name_the_key(family, mutate, key, words):
    config = {"families": {family: {"seeds": [0]}}}
    mutate(config["families"][family])
    message = _error(config)
    assert f"config key '{key}'" in message and words in message, message


def test_a_wildcard_brace_in_the_results_path_is_an_error(base):
    base["results"] = "res{x}"
    assert "config key 'results': 'res{x}'" in _error(base)


def test_what_the_validator_accepts_the_jobs_accept():
    """Every run's hyperparameters of the default and paper configs pass the families' own checks."""
    from losstopo.sweep.families import get_family
    from losstopo.training.train import resolve_hparams

    for name in ("config.yaml", "paper.yaml"):
        for run in expand_runs(load_config_file(REPO / "config" / name)).values():
            family = get_family(run.family)
            resolve_hparams(family, run.hp)
            if hasattr(family, "full_hp"):
                family.full_hp(run.hp)


def test_a_thousand_run_config_validates_in_well_under_a_second():
    config = {
        "families": {
            "pinn": {
                "seeds": list(range(5)),
                "checkpoints": [1],
                "sweep": {"beta": [float(b) for b in range(50)], "lr": [0.1, 0.2, 0.5, 1]},
            }
        }
    }
    start = time.process_time()
    runs = expand_runs(validate_config(config))
    assert len(runs) == 1000
    assert time.process_time() - start < 0.5

"""Config validation (every error names its key) and sweep expansion (canonical run paths)."""

import copy
from pathlib import Path

import pytest
import yaml

from losstopo.config import ConfigError, canonical, expand_runs, load_config_file, validate_config

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


@pytest.mark.parametrize("value, spelling", [
    (30, "30"), (30.0, "30"), (0.001, "0.001"), (1e-5, "1e-05"), (True, "true"), ("tanh", "tanh"), (2.5, "2.5"),
])
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


@pytest.mark.parametrize("mutate, key", [
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
])
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
    """config/README.md's key tables are generated: regenerate with python -m losstopo.config_docs config/README.md."""
    from losstopo.config_docs import render

    assert render() in (REPO / "config" / "README.md").read_text()


def test_family_hessian_override(base):
    base["hessian"] = {"top_k": 3}
    base["families"]["pinn"]["hessian"] = {"enabled": False}
    run = next(iter(expand_runs(validate_config(base)).values()))
    assert run.hessian["enabled"] is False and run.hessian["top_k"] == 3
    base["families"]["pinn"]["hessian"] = {"top_k": -1}
    assert "'families.pinn.hessian.top_k'" in _error(base)


def test_paper_config_validates():
    runs = expand_runs(load_config_file(REPO / "config" / "paper.yaml"))
    assert any(run.landscape["dim"] == 4 and run.landscape["resolution"] == 41 for run in runs.values())
    assert {run.family for run in runs.values()} == {"pinn", "resnet", "unet"}

"""Plug-in model families (docs/families.md): the contract checked before any job, typing, the torch-free
reading of a module, the code hash, the train job's checks, and a family module used by hand."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from losstopo.sweep.config import ConfigError, expand_runs, load_config_file, validate_config
from losstopo.sweep.families import PLUGINS_ENV, family_reference, get_family, get_hparams, plugin_modules
from losstopo.sweep.plugin import RESERVED, read_table

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sequence_cnn"

# A family module in the fewest lines: literal tables, functions that a config check never calls.
MINIMAL = """
PARAMS = {
    "width": {"type": "integer", "minimum": 1, "default": 4},
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 1},
    "act": {"type": "string", "enum": ["tanh", "relu"], "default": "tanh"},
    "epochs": {"type": "integer", "minimum": 1, "default": 3},
}
PERFORMANCE_METRICS = {"auc": "higher", "brier": "lower"}
EPOCH_KEY = "epochs"


def build_model(hp):
    raise NotImplementedError


def train(model, hp, seed, device, on_epoch=None):
    raise NotImplementedError


def objective(model, hp, seed, device, dtype):
    raise NotImplementedError
"""


def write_module(folder: Path, text: str = MINIMAL, name: str = "mine.py") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def plugin_config(module: str, **family) -> dict:
    return {"families": {"mine": {"module": module, "seeds": [0], **family}}}


def problems_of(config: dict, base_dir: Path) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, base_dir)
    return str(info.value)


def test_the_example_family_is_read_without_torch():
    """The DAG's cost: the Snakefile's process reads a literal family module without importing it (or torch)."""
    code = (
        "import sys; from losstopo.sweep.config import load_config_file, expand_runs; "
        f"runs = expand_runs(load_config_file({str(EXAMPLE / 'config.yaml')!r})); "
        "print(len(runs), 'torch' in sys.modules, any(m.startswith('losstopo_family') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["4", "False", "False"]


def test_a_module_path_is_relative_to_the_config_file_and_values_are_typed_like_ours(tmp_path):
    (tmp_path / "sub").mkdir()
    write_module(tmp_path / "sub")
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "families:\n  mine:\n    module: sub/mine.py\n    seeds: [0]\n"
        "    sweep: {lr: [1, 5e-1, '1e-2'], width: [8.0]}\n    params: {act: relu}\n"
    )
    validated = load_config_file(config)
    assert validated["families"]["mine"]["module"] == str(tmp_path / "sub" / "mine.py")
    runs = expand_runs(validated)
    assert list(runs) == [f"mine/lr~{v}/width~8/seed~0" for v in ("1", "0.5", "0.01")]
    hp = runs["mine/lr~1/width~8/seed~0"].hp
    assert hp == {"width": 8, "lr": 1.0, "act": "relu", "epochs": 3}
    assert isinstance(hp["lr"], float) and isinstance(hp["width"], int)
    assert get_hparams("mine", validated["families"]["mine"]["module"]).PARAMS["lr"]["default"] == 1.0  # typed too


def test_every_hyperparameter_is_checked_against_the_modules_table(tmp_path):
    write_module(tmp_path)
    text = problems_of(plugin_config("mine.py", sweep={"width": [0], "depth": [2]}, params={"act": "elu"}), tmp_path)
    assert "config key 'families.mine.sweep.width[0]': 0 is less than the minimum of 1" in text
    assert "config key 'families.mine.sweep.depth': unknown hyperparameter of family 'mine'" in text
    assert "config key 'families.mine.params.act'" in text
    late = problems_of(plugin_config("mine.py", checkpoints=[5]), tmp_path)
    assert "config key 'families.mine.checkpoints': epoch(s) 5 after the last epoch" in late


def _contract(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda t: _contract(t, "def objective(", "def objective_("), "no function objective"),
        (lambda t: _contract(t, "def build_model(", "def build("), "no function build_model"),
        (lambda t: _contract(t, "def train(", "def fit("), "no function train"),
        (
            lambda t: _contract(t, 'PERFORMANCE_METRICS = {"auc": "higher", "brier": "lower"}', ""),
            "no PERFORMANCE_METRICS",
        ),
        (
            lambda t: _contract(t, '{"auc": "higher", "brier": "lower"}', '["auc", "brier"]'),
            "PERFORMANCE_METRICS is a list, expected {metric: 'higher' | 'lower'}",
        ),
        (
            lambda t: _contract(t, '"brier": "lower"', '"brier": "smaller"'),
            "PERFORMANCE_METRICS['brier'] = 'smaller': the direction that is better must be 'higher' or 'lower'",
        ),
        (
            lambda t: _contract(t, '"type": "integer", "minimum": 1, "default": 4', '"type": "int", "default": 4'),
            "PARAMS['width']: not a valid JSON schema",
        ),
        (
            lambda t: _contract(t, '"type": "integer", "minimum": 1, "default": 4', '"type": "integer"'),
            "PARAMS['width']: no 'default'",
        ),
        (
            lambda t: _contract(t, '"minimum": 1, "default": 4', '"minimum": 1, "default": 0'),
            "PARAMS['width']: its default 0 does not fit its schema",
        ),
        (lambda t: _contract(t, '"width": {"type": "integer", ', '"width": {'), "PARAMS['width']: no 'type'"),
        (lambda t: _contract(t, '"width": {', '"threshold": {'), "PARAMS['threshold']: not a usable hyperparameter"),
        (
            lambda t: _contract(t, '"auc": "higher"', '"n_minima": "higher"'),
            "PERFORMANCE_METRICS['n_minima']: not a usable metric name",
        ),
        (lambda t: _contract(t, 'EPOCH_KEY = "epochs"', 'EPOCH_KEY = "act"'), "EPOCH_KEY = 'act'"),
        (lambda t: _contract(t, "def train(model", "def train(model)\n"), "mine.py:17: syntax error (unmatched ')')"),
    ],
)
def test_a_broken_contract_stops_validation_naming_the_key_the_module_and_the_part(tmp_path, edit, words):
    write_module(tmp_path, edit(MINIMAL))
    text = problems_of(plugin_config("mine.py"), tmp_path)
    assert f"config key 'families.mine.module': {tmp_path / 'mine.py'}" in text
    assert words in text


@pytest.mark.parametrize(
    "config, words",
    [
        (plugin_config("missing.py"), "config key 'families.mine.module': 'missing.py': no such file"),
        (plugin_config("no_such_package.family"), "module 'no_such_package.family' not found"),
        (plugin_config("mine"), "module 'mine' not found"),
        ({"families": {"pinn": {"module": "mine.py", "seeds": [0]}}}, "'pinn' is a built-in family"),
        ({"families": {"mine": {"seeds": [0]}}}, "config key 'families.mine': no built-in family is called 'mine'"),
        ({"families": {"my-net": {"module": "mine.py", "seeds": [0]}}}, "does not match"),
    ],
)
def test_a_missing_module_or_a_clashing_name_stops_validation(tmp_path, config, words):
    write_module(tmp_path)
    assert words in problems_of(config, tmp_path)


def test_a_module_that_needs_its_code_is_imported_once_and_its_check_runs(tmp_path):
    """A check() (or a table built by code) can only run by importing the module: then it is imported, once."""
    text = MINIMAL + "\n\ndef check(hp):\n    return ['width and lr disagree'] if hp['width'] > 10 * hp['lr'] else []\n"
    path = str(write_module(tmp_path, text, "checked.py"))
    config = plugin_config("checked.py", sweep={"width": [4, 40]})
    message = problems_of(config, tmp_path)
    assert "config key 'families.mine' params and sweep: width and lr disagree (in 1 grid point(s)" in message
    table = get_hparams("mine", path)
    assert table.imported is not None and get_family("mine", path) is table.imported  # one module object
    assert read_table("mine", path) is table  # read once while the file is unchanged
    assert read_table("mine", str(write_module(tmp_path))).imported is None  # without check(): not imported


def test_an_import_failure_shows_its_traceback_once_with_the_key(tmp_path):
    text = "import numpy\nPARAMS = dict(numpy=1)\n\n\ndef helper():\n    return 1 / 0\n\n\nhelper()\n"
    write_module(tmp_path, text)
    message = problems_of(plugin_config("mine.py"), tmp_path)
    assert f"config key 'families.mine.module': {tmp_path / 'mine.py'} failed to import:" in message
    assert message.count("ZeroDivisionError: division by zero") == 1
    assert 'mine.py", line 6, in helper' in message and "importlib" not in message


def test_the_code_hash_ignores_comments_and_formatting_but_not_code(tmp_path):
    path = write_module(tmp_path)
    before = read_table("mine", str(path)).code_hash
    path.write_text("# a comment\n" + MINIMAL.replace("\n\n\n", "\n\n\n\n") + "# another\n")
    assert read_table("mine", str(path)).code_hash == before
    path.write_text(MINIMAL.replace('"default": 3', '"default": 4'))
    assert read_table("mine", str(path)).code_hash != before


def test_jobs_find_plugins_through_the_environment(monkeypatch, tmp_path):
    path = write_module(tmp_path)
    monkeypatch.setenv(PLUGINS_ENV, json.dumps({"mine": str(path)}))
    assert plugin_modules() == {"mine": str(path)}
    assert get_hparams("mine").PERFORMANCE_METRICS == {"auc": "higher", "brier": "lower"}
    monkeypatch.setenv(PLUGINS_ENV, "[1]")
    with pytest.raises(ValueError, match=f"{PLUGINS_ENV}: expected a JSON object"):
        plugin_modules()
    monkeypatch.delenv(PLUGINS_ENV)
    with pytest.raises(ValueError, match="unknown model family 'mine'; known: pinn, resnet, unet"):
        get_family("mine")


def test_a_family_named_by_its_file(tmp_path):
    path = write_module(tmp_path)
    assert family_reference(str(path)) == ("mine", str(path))
    assert family_reference("pinn") == ("pinn", None)
    write_module(tmp_path, MINIMAL, "unet.py")
    with pytest.raises(ValueError, match="'unet' is a built-in family's name"):
        family_reference(str(tmp_path / "unet.py"))


# -------------------------------------------------------------------------------------------- the train job

TORCH_FAMILY = """
import torch
from torch import nn

from losstopo.objective import Objective

PARAMS = {"width": {"type": "integer", "minimum": 1, "default": 3}}
PERFORMANCE_METRICS = {"score": "higher"}
TRAINED = []


def build_model(hp):
    return nn.Linear(hp["width"], 1)


def train(model, hp, seed, device, on_epoch=None):
    TRAINED.append(seed)
    raise AssertionError("train() must not run")


def objective(model, hp, seed, device, dtype):
    x = torch.ones(4, hp["width"], dtype=dtype)
    net = model.to(dtype)
    return Objective(net, lambda params: LOSS(torch.func.functional_call(net, params, (x,))))
"""


@pytest.mark.parametrize(
    "loss, words",
    [
        ("lambda out: out.square()", "the loss of objective() returned (4, 1), expected a scalar tensor"),
        ("lambda out: out.sum() * float('nan')", "the loss of objective() is nan at the freshly built model"),
        ("lambda out: 0.5", "the loss of objective() returned float, expected a scalar tensor"),
        (
            "lambda out: (out + torch.rand_like(out)).mean()",
            "objective(): the objective is not deterministic: evaluating it draws random numbers",
        ),
    ],
)
def test_a_loss_that_is_no_finite_scalar_stops_the_train_job_before_training(tmp_path, loss, words):
    from losstopo.training.train import run_training

    path = write_module(tmp_path, TORCH_FAMILY + f"\nLOSS = {loss}\n", "lossy.py")
    with pytest.raises(ValueError) as info:
        run_training(str(path), {}, 0, tmp_path / "run", "cpu")
    assert str(info.value).startswith(f"family 'lossy' ({path}): {words}")
    assert get_family("lossy", str(path)).TRAINED == [] and not (tmp_path / "run").exists()


def test_the_objective_check_leaves_the_random_streams_alone(tmp_path):
    """Training after the check draws the numbers it would draw without it, even from an objective that draws
    from every global generator."""
    from losstopo.training.train import check_objective, seed_everything

    drawing = TORCH_FAMILY.replace("x = torch.ones(", "random.random(), np.random.rand()\n    x = torch.rand(")
    path = write_module(
        tmp_path, "import random\nimport numpy as np\n" + drawing + "\nLOSS = torch.mean\n", "drawing.py"
    )
    family = get_family("drawing", str(path))
    seed_everything(3)
    model = family.build_model({"width": 3})
    check_objective(family, "drawing", model, {"width": 3}, 3, torch.device("cpu"))
    after_check = (torch.rand(3), np.random.rand(3), random.random())
    seed_everything(3)
    family.build_model({"width": 3})
    assert (torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()) == (
        after_check[0].tolist(),
        after_check[1].tolist(),
        after_check[2],
    )


def test_a_family_module_by_hand_train_then_directions(tmp_path, monkeypatch):
    """`losstopo train --family path/to/family.py` works by hand, and the later stages find the module through
    model.pt; a plan made with another code hash is refused before training."""
    from losstopo.cli import main
    from losstopo.trained import load_trained

    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    module = str(EXAMPLE / "family.py")
    params = json.dumps({"n_train": 32, "n_test": 32, "eval_size": 16, "epochs": 2, "channels": 2})
    args = ["train", "--family", module, "--params", params, "--seed", "1", "--device", "cpu", "--checkpoints", "1"]
    assert main([*args, "--out-dir", str(tmp_path / "run")]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["family"] == "family" and run["family_module"] == module
    assert run["performance"] == {"auc": "higher", "brier": "lower", "test_loss": "lower"}
    assert run["family_code"] == read_table("family", module).code_hash
    train = json.loads((tmp_path / "run" / "train.json").read_text())
    assert 0 <= train["metrics"]["auc"] <= 1 and 0 <= train["metrics"]["brier"] <= 1
    family, model, hp, seed, _ = load_trained(tmp_path / "run", "cpu")
    assert family.__file__ == module and hp["channels"] == 2 and seed == 1
    landscape = json.dumps({"dim": 2, "directions": "random"})
    out = tmp_path / "run" / "directions.npz"
    assert main(["directions", "--run-dir", str(tmp_path / "run"), "--landscape", landscape, "--out", str(out)]) == 0
    epoch = tmp_path / "run" / "epoch~1"
    assert main(["checkpoint", "--run-dir", str(tmp_path / "run"), "--epoch", "1", "--out-dir", str(epoch)]) == 0
    assert load_trained(epoch, "cpu")[0] is family
    assert set(json.loads((epoch / "train.json").read_text())["metrics"]) >= {"auc", "brier", "test_loss"}
    assert main([*args, "--out-dir", str(tmp_path / "other"), "--family-code", "0" * 64]) == 2
    assert not (tmp_path / "other").exists()


def test_the_examples_auc_is_sklearns():
    """The example's ROC AUC (Mann-Whitney, ties half) against scikit-learn's, with ties."""
    from sklearn.metrics import roc_auc_score

    family = get_family("seqcnn", str(EXAMPLE / "family.py"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(labels * 0.7, 1.0), 1)  # rounded: many ties
    ours = family.roc_auc(torch.as_tensor(scores), torch.as_tensor(labels))
    assert ours == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_reserved_names_cover_the_columns_the_workflow_writes():
    """The names a family may not use: a sample of what runs.csv, run folders and figures take."""
    for name in (
        "family",
        "seed",
        "epoch",
        "status",
        "threshold",
        "n_minima_simplified",
        "avg_persistence_log",
        "hessian_trace",
        "landscape_span",
        "loss_min",
        "performance",
    ):
        assert RESERVED.match(name), name
    for name in ("auc", "n_train", "n_layers", "loss", "test_loss", "width", "lr", "persistence"):
        assert not RESERVED.match(name), name


def test_the_documented_family_validates_trains_and_samples_by_hand(tmp_path, monkeypatch):
    """docs/families.md's config, complete example module and by-hand commands, as a reader copies them."""
    import re
    import shlex

    from losstopo.cli import main

    text = (REPO / "docs" / "families.md").read_text()
    config = re.search(r"```yaml\n# my.yaml\n(.*?)```", text, re.S).group(1)
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    module = next(block for block in blocks if "PARAMS = {" in block)  # the complete example module
    by_hand = re.search(r"## By hand.*?```bash\n(.*?)```", text, re.S).group(1)
    (tmp_path / "my.yaml").write_text(config)
    (tmp_path / "mlp.py").write_text(module)
    runs = expand_runs(load_config_file(tmp_path / "my.yaml"))
    assert len(runs) == 12 and runs["mlp/width~32/lr~0.001/seed~2"].hp["epochs"] == 20
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    for command in by_hand.replace("\\\n", " ").splitlines():
        argv = shlex.split(command.split("#")[0])
        assert argv[0] == "losstopo" and main([*argv[1:], "--device", "cpu"]) == 0, command
    train = json.loads((tmp_path / "runs" / "mlp0" / "train.json").read_text())
    assert train["status"] == "ok" and train["metrics"]["r2"] > 0  # the documented model learns its task
    assert np.isfinite(np.load(tmp_path / "runs" / "mlp0" / "landscape.npz")["loss"]).all()


def test_a_boolean_swept_key_has_no_transition_so_the_tables_stay_numeric():
    """A plug-in may sweep a yes/no key beside a number: transition.csv's low/high stay numbers (NaN for the
    boolean), which the findings figures and report read as numbers."""
    import pandas as pd

    from losstopo.summary.findings.statistics import locate_transition

    runs = pd.DataFrame(
        {"bias": [True, False, True, False], "lr": [0.1, 0.1, 0.01, 0.01], "auc": [0.9, 0.8, 0.7, 0.6]}
    ).assign(status="ok")
    assert (
        locate_transition(runs, "bias", "auc")["note"]
        == "bias is not numeric: no order to define neighbouring grid points"
    )
    assert np.isnan(locate_transition(runs, "bias", "auc")["low"])
    assert locate_transition(runs, "lr", "auc")["low"] == 0.01


def test_a_declared_metric_that_train_does_not_report_stops_the_train_job(tmp_path):
    from losstopo.training.train import run_training

    text = TORCH_FAMILY.replace(
        'PERFORMANCE_METRICS = {"score": "higher"}', 'PERFORMANCE_METRICS = {"mae": "lower", "score": "higher"}'
    )
    text = text.replace(
        '    TRAINED.append(seed)\n    raise AssertionError("train() must not run")',
        '    from losstopo.training.loop import TrainResult\n\n    return TrainResult([], {"score": 0.5})',
    )
    path = write_module(tmp_path, text + "\nLOSS = lambda out: out.square().mean()\n", "silent.py")
    with pytest.raises(ValueError, match=r"family 'silent': train\(\) returned metrics \['score'\] without mae"):
        run_training(str(path), {}, 0, tmp_path / "run", "cpu")
    assert not (tmp_path / "run" / "train.json").exists()


def test_validate_config_imports_a_module_whose_tables_a_dry_run_reads_from_source(tmp_path, capsys):
    from losstopo import cli

    write_module(tmp_path, MINIMAL + "\nraise RuntimeError('broken at import')\n")
    config = tmp_path / "my.yaml"
    config.write_text("families:\n  mine:\n    module: mine.py\n    seeds: [0]\n")
    validate_config(plugin_config("mine.py"), tmp_path)  # literal tables: read without importing
    assert cli.main(["validate-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "config key 'families.mine.module'" in err and "RuntimeError: broken at import" in err

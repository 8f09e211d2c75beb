"""Plug-in model families: a family module outside the package, named by a config
(``families.<name>.module``) or on the command line, checked against the family contract (docs/families.md).

Torch-free. The Snakefile parses once per Snakemake process (every cluster job too), so a plug-in's
hyperparameter table is read from the module's source with :func:`ast.literal_eval` when ``PARAMS``,
``PERFORMANCE_METRICS`` and ``EPOCH_KEY`` are literals, ``build_model``, ``train`` and ``objective`` are
defined at its top level and it defines no ``check`` or ``epoch_count`` (which only its code can run); only
otherwise is the module imported, once per process. Either way the whole contract is checked, and every
problem is reported at once.

The module's *code hash* is the SHA-256 of its syntax tree (``ast.dump``): comments, blank lines and
formatting do not change it, any change to code or docstrings does. The workflow passes it to the train
jobs, so editing the module reruns its trainings and everything downstream (docs/families.md).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema

from losstopo.sweep.schema import declared_types, typed_value

REQUIRED_FUNCTIONS = ("build_model", "train", "objective")
OPTIONAL_FUNCTIONS = ("check", "epoch_count")  # run only by importing the module
LITERALS = ("PARAMS", "PERFORMANCE_METRICS", "EPOCH_KEY")
BETTER = ("higher", "lower")  # the direction in which a performance metric is better
DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # hyperparameter and metric names: run-id folders, runs.csv columns
# Names the workflow itself gives a runs.csv column, a run-id folder or a figure (topology_vs_<key>): a
# hyperparameter or metric so named would overwrite it (checked on a real runs.csv: tests/test_plugin_workflow.py).
RESERVED = re.compile(
    r"^(family|run_id|run_dir|seed|epoch|status|train_reason|performance|graph|shape|threshold|threshold_absolute"
    r"|(landscape|topology|hessian|connectivity)_\w+|loss_(min|max|center)|persistence_top|basin_sizes_top"
    r"|n_(components|nodes|nonfinite|samples|vertices)|n_(minima|saddles|degenerate_saddles|pairs)(_simplified)?"
    r"|(total|avg|max|essential)_persistence(_\w+)?)$"
)


class FamilyError(ValueError):
    """A family module cannot be used: not found, not importable, or breaking the contract. ``problems``
    lists each problem (a message naming the module and the part of the contract)."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def is_path(spec: str) -> bool:
    """Whether a module spec is a file path (ends in ``.py`` or has a folder) rather than a dotted name."""
    return spec.endswith(".py") or "/" in spec or os.sep in spec


def resolve_module(spec: str, base_dir: str | os.PathLike) -> str:
    """``spec`` as every job uses it: a ``.py`` path made absolute against ``base_dir`` (the config file's
    folder), or a dotted module name as given. FamilyError if the file does not exist or the dotted name
    is not one."""
    if is_path(spec):
        path = (Path(base_dir) / Path(spec).expanduser()).resolve()
        if not path.is_file():
            raise FamilyError([f"{spec!r}: no such file ({path})"])
        if path.suffix != ".py":
            raise FamilyError([f"{spec!r}: not a Python source file (.py)"])
        return str(path)
    if not DOTTED.match(spec):
        raise FamilyError([f"{spec!r}: neither a .py file nor a dotted module name"])
    return spec


def source_file(spec: str) -> Path:
    """The source file of a module spec (a dotted name is looked up without importing the module itself;
    a package's parent packages are imported). FamilyError if there is none."""
    if is_path(spec):
        return Path(spec)
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError) as exc:
        raise FamilyError([f"module {spec!r} not found ({exc})"]) from None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise FamilyError([f"module {spec!r} not found (or has no .py source file) on the Python path"])
    return Path(found.origin)


def _import_problem(spec: str, exc: BaseException) -> str:
    """A failed import as one message: the module and the traceback through the module's own code."""
    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list(
        [frame for frame in tb.stack if not frame.filename.startswith("<frozen") and frame.filename != __file__]
    )
    return f"{spec} failed to import:\n" + "".join(tb.format()).rstrip()


def import_module(name: str, spec: str) -> ModuleType:
    """The family module of ``spec`` (imported once per process; a file is loaded as module
    ``losstopo_family_<name>``). FamilyError with the module's traceback if importing it fails."""
    if not is_path(spec):
        try:
            return importlib.import_module(spec)
        except Exception as exc:  # any error of the user's module
            raise FamilyError([_import_problem(spec, exc)]) from None
    module_name = f"losstopo_family_{name}"
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == spec:
        return loaded
    module_spec = importlib.util.spec_from_file_location(module_name, spec)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # any error of the user's module
        del sys.modules[module_name]
        raise FamilyError([_import_problem(spec, exc)]) from None
    return module


def load_family(name: str, spec: str) -> ModuleType:
    """The imported family module, checked to define the contract's functions; FamilyError otherwise."""
    module = import_module(name, spec)
    missing = [f for f in REQUIRED_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise FamilyError([f"{spec}: {_missing_functions(missing)}"])
    return module


def import_problems(modules: dict[str, str]) -> list[str]:
    """Import each plug-in family module (``{name: module spec}`` of a validated config) and check its functions:
    one problem per module that fails, naming its config key ``families.<name>.module`` (with the traceback
    of a failed import). Validation reads literal tables without importing (fast, torch-free); this is the
    check that also runs the module's code: ``losstopo validate-config`` and the workflow's start call it."""
    problems = []
    for name, spec in modules.items():
        try:
            load_family(name, spec)
        except FamilyError as exc:
            problems.append(f"config key 'families.{name}.module': {exc}")
    return problems


def _missing_functions(missing: list[str]) -> str:
    return (
        f"no function {', '.join(missing)} (the contract: build_model(hp), train(model, hp, seed, device, "
        "on_epoch), objective(model, hp, seed, device, dtype); docs/families.md)"
    )


def _top_level(tree: ast.Module) -> tuple[dict[str, list[ast.AST | None]], bool]:
    """{name: the value nodes bound to it at the module's top level (None where not a plain assignment)},
    and whether the module has a star import (which binds names no parser can see)."""
    bound: dict[str, list[ast.AST | None]] = {}
    star = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.setdefault(node.name, []).append(None)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(node.value if len(node.targets) == 1 else None)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            bound.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                star |= alias.name == "*"
                bound.setdefault((alias.asname or alias.name).split(".")[0], []).append(None)
    return bound, star


def _literals(bound: dict[str, list[ast.AST | None]]) -> dict[str, Any] | None:
    """The values of LITERALS as written, or None when one is bound otherwise than by one literal."""
    values = {}
    for name in LITERALS:
        nodes = bound.get(name, [])
        if not nodes:
            continue
        if len(nodes) > 1 or nodes[0] is None:
            return None
        try:
            values[name] = ast.literal_eval(nodes[0])
        except ValueError:
            return None
    return values


def _param_problems(params: Any) -> list[str]:
    """What is wrong with a PARAMS table: {name: JSON schema with a type and a valid default}."""
    if not isinstance(params, dict):
        return [f"PARAMS is a {type(params).__name__}, expected a dict {{name: JSON schema with type and default}}"]
    problems = []
    for key, spec in params.items():
        where = f"PARAMS[{key!r}]"
        if not isinstance(key, str) or not NAME.match(key) or RESERVED.match(key):
            problems.append(f"{where}: not a usable hyperparameter name ({_name_rule()})")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: a {type(spec).__name__}, expected a JSON schema (a dict)")
            continue
        try:
            jsonschema.Draft7Validator.check_schema(spec)
        except jsonschema.SchemaError as exc:
            problems.append(f"{where}: not a valid JSON schema ({exc.message})")
            continue
        if not declared_types(spec):
            problems.append(f"{where}: no 'type' (e.g. 'number', 'integer', 'string', 'boolean')")
        if "default" not in spec:
            problems.append(f"{where}: no 'default' (every hyperparameter has one)")
            continue
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(spec).iter_errors(spec["default"]))
        if error is not None:
            problems.append(f"{where}: its default {spec['default']!r} does not fit its schema ({error.message})")
    return problems


def _name_rule() -> str:
    return (
        "letters, digits and _, not starting with a digit, and none of the names the workflow itself gives run "
        "folders, runs.csv columns and figures: family, seed, epoch, status, performance, threshold, the "
        "topology metrics (n_minima, loss_min, avg_persistence, ...), landscape_*, topology_*, hessian_*, "
        "connectivity_*; docs/families.md"
    )


def _metric_problems(metrics: Any, params: Any) -> list[str]:
    """What is wrong with PERFORMANCE_METRICS: a non-empty {metric: "higher" | "lower"}."""
    if not isinstance(metrics, dict) or not metrics:
        kind = "an empty dict" if isinstance(metrics, dict) else f"a {type(metrics).__name__}"
        return [
            f"PERFORMANCE_METRICS is {kind}, expected {{metric: 'higher' | 'lower'}}: each metric "
            "train() reports, with the direction that is better, the headline metric first"
        ]
    problems = []
    for metric, better in metrics.items():
        where = f"PERFORMANCE_METRICS[{metric!r}]"
        if not isinstance(metric, str) or not NAME.match(metric) or RESERVED.match(metric):
            problems.append(f"{where}: not a usable metric name ({_name_rule()})")
        elif isinstance(params, dict) and metric in params:
            problems.append(f"{where}: also a hyperparameter; runs.csv needs one column per name")
        if better not in BETTER:
            problems.append(f"{where} = {better!r}: the direction that is better must be 'higher' or 'lower'")
    return problems


def _epoch_key_problems(key: Any, params: Any) -> list[str]:
    if key is None or not isinstance(params, dict):
        return []
    spec = params.get(key) if isinstance(key, str) else None
    if not isinstance(spec, dict) or "integer" not in declared_types(spec):
        return [f"EPOCH_KEY = {key!r}: expected the name of an integer hyperparameter of PARAMS"]
    return []


def contract_problems(values: dict[str, Any]) -> list[str]:
    """Every problem of a family's declarations (PARAMS, PERFORMANCE_METRICS, EPOCH_KEY), each naming its part."""
    problems = []
    for name in ("PARAMS", "PERFORMANCE_METRICS"):
        if name not in values:
            problems.append(f"no {name} (docs/families.md)")
    params = values.get("PARAMS")
    if "PARAMS" in values:
        problems += _param_problems(params)
    if "PERFORMANCE_METRICS" in values:
        problems += _metric_problems(values["PERFORMANCE_METRICS"], params)
    return problems + _epoch_key_problems(values.get("EPOCH_KEY"), params)


@dataclass(frozen=True)
class FamilyTable:
    """The torch-free half of a plug-in family, as the config validator and the Snakefile read it: the same
    attributes as a built-in's ``losstopo.sweep.hparams.<name>`` module."""

    name: str
    module: str  # the module spec: an absolute .py path or a dotted name
    PARAMS: dict[str, dict[str, Any]]
    PERFORMANCE_METRICS: dict[str, str]
    code_hash: str  # SHA-256 of the module's syntax tree
    epoch_key: str | None = None
    imported: ModuleType | None = None  # the module, where reading the table needed its code

    def check(self, hp: dict[str, Any]) -> list[str]:
        """The module's ``check(hp)`` (problems across keys of a full, typed ``hp``), if it has one."""
        check = getattr(self.imported, "check", None)
        return list(check(hp)) if check else []

    def epoch_count(self, hp: dict[str, Any]) -> int | None:
        """The last epoch of a run: the module's ``epoch_count(hp)``, else ``hp[EPOCH_KEY]``, else None (unknown)."""
        count = getattr(self.imported, "epoch_count", None)
        if count:
            return int(count(hp))
        return int(hp[self.epoch_key]) if self.epoch_key else None


def read_table(name: str, spec: str) -> FamilyTable:
    """The plug-in family ``name`` of module ``spec`` (resolve_module's form), read without importing it
    where its source allows (module docstring); read once per process while the file's text is unchanged.
    FamilyError lists every problem: a missing file, a syntax error, a failed import, a missing function or
    declaration, a malformed PARAMS or PERFORMANCE_METRICS."""
    path = source_file(spec)
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise FamilyError([f"{spec}: cannot read ({exc})"]) from None
    return _read_table(name, spec, str(path), source)


@functools.cache
def _read_table(name: str, spec: str, path: str, source: str) -> FamilyTable:
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        raise FamilyError([f"{path}:{exc.lineno}: syntax error ({exc.msg})"]) from None
    code_hash = hashlib.sha256(ast.dump(tree).encode()).hexdigest()
    bound, star = _top_level(tree)
    values = _literals(bound)
    literal = (
        values is not None
        and not star
        and {"PARAMS", "PERFORMANCE_METRICS"} <= set(values)
        and all(f in bound for f in REQUIRED_FUNCTIONS)
        and not any(f in bound for f in OPTIONAL_FUNCTIONS)
    )
    module = None
    if not literal:
        module = import_module(name, spec)
        values = {key: getattr(module, key) for key in LITERALS if hasattr(module, key)}
        missing = [f for f in REQUIRED_FUNCTIONS if not callable(getattr(module, f, None))]
    else:
        missing = []
    problems = contract_problems(values) + ([_missing_functions(missing)] if missing else [])
    params = {}
    if not problems:  # defaults typed as the config's values are (1 is 1.0 for a number), so one value has one spelling
        for key, schema in values["PARAMS"].items():
            params[key] = {**schema, "default": typed_value(schema["default"], schema, f"PARAMS[{key!r}]", problems)}
    if problems:
        raise FamilyError([f"{spec}: {problem}" for problem in problems])
    return FamilyTable(
        name,
        spec,
        params,
        dict(values["PERFORMANCE_METRICS"]),
        code_hash,
        values.get("EPOCH_KEY"),
        module,
    )

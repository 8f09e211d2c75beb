"""The command line's habits: a version, help text with defaults for every option, empty tables with a header."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from losstopo import __version__, cli
from losstopo.io import save_csv
from losstopo.landscape.drawing import direction_label
from losstopo.summary.aggregate import collect
from losstopo.sweep.schema import default


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"losstopo {__version__}"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_has_help_and_shows_its_default(name):
    parser = subcommands()[name]
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"losstopo {name} {action.dest}: no help text"
        shown = not (action.required or action.default in (None, (), [], {}))
        if shown and action.option_strings:
            assert f"(default: {action.default})" in " ".join(text.split()), f"losstopo {name} {action.dest}"


def test_config_settings_take_the_schemas_defaults():
    choices = subcommands()
    assert choices["topology"].get_default("threshold") == default("topology", "threshold")
    assert choices["profile"].get_default("max_basins") == default("profile", "max_basins")
    assert choices["findings-report"].get_default("alpha") == default("findings", "alpha")
    assert choices["connectivity"].get_default("points") == default("connectivity", "points")


def test_an_empty_table_is_written_with_its_header(tmp_path):
    save_csv(tmp_path / "checkpoints.csv", collect([]))
    table = pd.read_csv(tmp_path / "checkpoints.csv")
    assert len(table) == 0 and {"family", "run_id", "seed", "status", "run_dir"} <= set(table.columns)


def test_heatmap_axes_say_which_directions():
    hessian = {"directions": {"kind": "hessian", "eigenvalues": [12.34, 5.0]}}
    assert direction_label(hessian, 0) == "Hessian eigenvector 1 (λ = 12.3)"
    assert direction_label({"directions": {"kind": "random"}}, 1) == "random direction 2 (filter-normalised)"
    assert direction_label({}, 0) == "direction 1"

"""Field report 22.2 and 22.5: config text that cannot work where it goes is refused by validation, naming its
key (Snakemake's wildcards and path variables in `results:`, text that would reach the HTML report's script
blocks unescaped, line breaks, a leading `-`); a folder is spelled one way."""

from __future__ import annotations

import pytest

from losstopo.sweep.config import ConfigError, validate_config


def _config(**extra) -> dict:
    return {"families": {"pinn": {"seeds": [0], "sweep": {"beta": [1, 10]}}}, **extra}


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


@pytest.mark.parametrize(
    "folder, words",
    [
        ("/tmp/x/</script ><img src=x onerror=alert(1)>", "a folder may not contain < or >"),
        ("/tmp/pv/<logs>", "Snakemake reads <name> as a path variable"),
        ("/tmp/pv/<script>", "Snakemake reads <name> as a path variable"),
        ("res{x}", "a folder may not contain { or }"),
        ("res/a\nb", "line breaks or control characters"),
        ("res\tb", "line breaks or control characters"),
        ("-res", "may not start with -"),
        (" res", "may not start or end with a space"),
    ],
)
def test_a_results_folder_that_cannot_work_is_refused_naming_the_key(folder, words):
    message = _error(_config(results=folder))
    assert f"config key 'results': {folder!r}" in message and words in message, message


@pytest.mark.parametrize(
    "extra, key",
    [
        ({"profile": {"cmap": "</script><img src=x onerror=alert(1)>"}}, "profile.cmap"),
        (
            {"families": {"pinn": {"seeds": [0], "params": {"activation": "<b>tanh</b>"}}}},
            "families.pinn.params.activation",
        ),
    ],
)
def test_any_text_that_would_reach_the_report_script_unescaped_is_refused(extra, key):
    message = _error(_config(**extra))
    assert f"config key '{key}'" in message and "HTML report" in message, message


@pytest.mark.parametrize(
    "folder, spelled",
    [
        ("@res", "@res"),
        ("./res//a/", "res/a"),
        ('/data/group/sweep 1/it\'s & "quoted"', '/data/group/sweep 1/it\'s & "quoted"'),
        ("../shared/results", "../shared/results"),
    ],
)
def test_a_folder_that_works_is_spelled_one_way(folder, spelled):
    assert validate_config(_config(results=folder))["results"] == spelled

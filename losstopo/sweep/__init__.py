"""The sweep: its config (schema, validation, runs), the model family registry and the names of its
outputs. Torch-free, numpy-free: the Snakefile imports it while it parses, once per Snakemake process."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.sweep.config": ["ConfigError", "Run", "canonical", "expand_runs", "load_config_file", "validate_config"],
    "losstopo.sweep.families": [
        "FAMILY_MODULES",
        "PLUGINS_ENV",
        "defaults",
        "family_reference",
        "get_family",
        "get_hparams",
        "module_spec",
        "performance_metrics",
        "plugin_modules",
    ],
    "losstopo.sweep.plugin": ["FamilyError", "FamilyTable", "read_table", "resolve_module"],
    "losstopo.sweep.outputs": [
        "FINDINGS_TABLES",
        "INVARIANCE_TABLES",
        "figure_files",
        "findings_figure_files",
        "reported",
    ],
    "losstopo.sweep.shards": ["shard_count"],
    "losstopo.sweep.gpus": ["gpu_device_files"],
    "losstopo.sweep.schema": ["default", "landscape_defaults", "load_schema"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

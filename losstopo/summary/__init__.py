"""Stages 5 and 6, the summaries of a sweep: runs.csv (aggregate), its figures, shape distances between
runs, how topology metrics move under arbitrary choices (invariance), and the findings (a package)."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.summary.aggregate": ["collect", "run_row"],
    "losstopo.summary.tables": ["TOPOLOGY_METRICS", "ok_runs", "read_runs", "swept_keys", "topology_metrics"],
    "losstopo.summary.figures": ["draw_all"],
    "losstopo.summary.distances": ["distance_table"],
    "losstopo.summary.invariance": ["landscape_spreads", "summarize_spreads"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

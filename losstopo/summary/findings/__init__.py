"""The findings: the statistics of topology against performance over a sweep (``statistics``), their
figures (``figures``) and ``results/findings.md`` (``report``). docs/findings.md defines every column
and verdict."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.summary.findings.statistics": [
        "compute_all",
        "correlations",
        "rank_association",
        "transition",
        "trends",
        "variability",
    ],
    "losstopo.summary.findings.report": ["render"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""The findings: the papers' claims per family (``claims``), the statistics of topology against performance
over a sweep (``statistics``), the verdicts (``checks``), their figures (``figures``), ``results/findings.md``
(``report``) and the verdicts across spans (``spans``). docs/findings.md defines every column and verdict."""

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
    "losstopo.summary.findings.claims": ["CLAIMS", "claims_for"],
    "losstopo.summary.findings.checks": ["evaluate"],
    "losstopo.summary.findings.report": ["render"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

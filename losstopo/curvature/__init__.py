"""Curvature: Hessian-vector products, top eigenpairs (Lanczos), trace (Hutchinson) and spectral density
(stochastic Lanczos quadrature) of an objective, and how a density is drawn. docs/hessian.md."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.curvature.hessian": [
        "DensityResult",
        "EigenResult",
        "HessianOperator",
        "TraceResult",
        "analyze",
        "hessian_directions",
        "hutchinson_trace",
        "slq_density",
        "top_eigenpairs",
    ],
    "losstopo.curvature.spectral_density": ["SignedDensity", "signed_log_density"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""losstopo: the shape of neural-network loss landscapes across hyperparameter sweeps.

A Snakemake workflow and a Python package. The package is laid out by stage (docs/architecture.md):
``sweep`` (the config and everything the Snakefile reads while it parses; torch-free), ``training``
(model families, data, the training loop), ``landscape`` (directions, sampling, connectivity),
``curvature`` (Hessian), ``topology`` (merge trees, persistence, profiles), ``summary`` (tables,
figures, findings) and ``explorer``. The names below are importable from ``losstopo`` itself; each is
imported on first use, so ``import losstopo`` stays free of torch. For any model (docs/api.md)::

    import losstopo
    objective = losstopo.make_objective(model, torch.nn.CrossEntropyLoss(), (X, y))
    landscape = losstopo.compute_landscape(objective, "random", dim=2, resolution=31)
    summary = landscape.summary()  # minima, saddles, persistence
    landscape.save_profile("profile.png")
    report, density = losstopo.analyze(objective)  # Hessian
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

__version__ = "0.1.0"


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names (``{module: [name, ...]}``) are
    imported on first use (PEP 562), so importing the package costs nothing until a name is used."""
    namespace = importlib.import_module(package).__dict__
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home[name]), name)
        namespace[name] = value  # the next access is a plain lookup
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(home))

    return __getattr__, __dir__


_EXPORTS = {
    "losstopo.objective": ["Objective", "make_objective"],
    "losstopo.api": ["Landscape", "compute_landscape"],
    "losstopo.trained": ["load_trained"],
    "losstopo.landscape.directions": ["Directions", "random_directions", "trajectory_directions"],
    "losstopo.landscape.sampling": ["sample", "sample_landscape"],
    "losstopo.landscape.connectivity": ["LinearPath", "linear_path"],
    "losstopo.curvature.hessian": [
        "top_eigenpairs",
        "hessian_directions",
        "hutchinson_trace",
        "slq_density",
        "analyze",
        "plot_density",
    ],
    "losstopo.topology": ["compute_topology", "scattered_topology", "summarize"],
    "losstopo.topology.profile": ["profile_geometry"],
}
__all__ = ["__version__", "lazy_exports", *(name for names in _EXPORTS.values() for name in names)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

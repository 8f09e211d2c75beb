"""Stages 2 and 3, the landscape: directions in parameter space (filter-normalised random, Hessian, trajectory),
the loss sampled on a k-dimensional grid or at scattered points around a model (batched), and the loss
on the straight line between two models (mode connectivity). docs/sampling.md, docs/explorer.md."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.landscape.directions": [
        "Directions",
        "Layout",
        "compute_directions",
        "filter_ids",
        "filter_normalize",
        "flat_parameters",
        "load_directions",
        "orthogonalize",
        "pick_directions",
        "random_directions",
        "trajectory_directions",
    ],
    "losstopo.landscape.sampling": [
        "SampleResult",
        "gather_shards",
        "grid_axes",
        "run_sampling",
        "sample",
        "sample_landscape",
    ],
    "losstopo.landscape.scatter": ["scatter_points"],
    "losstopo.landscape.trajectory": ["load_trajectory", "pca_directions"],
    "losstopo.landscape.drawing": ["direction_label", "draw_landscape"],
    "losstopo.landscape.connectivity": ["LinearPath", "barrier_height", "linear_path", "pair_path", "seed_paths"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

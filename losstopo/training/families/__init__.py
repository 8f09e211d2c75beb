"""Model families. Each is a module with the same small surface, looked up by name
(``losstopo.sweep.families.get_family``); a family outside the package fulfils the same contract
(docs/families.md, ``losstopo.sweep.plugin``).

A family module defines:

``PARAMS``
    ``{name: JSON-schema dict}`` for every hyperparameter, each with a ``default`` and a
    ``description``, imported from the family's torch-free ``losstopo.sweep.hparams.<name>`` (with
    its checks across keys and its epoch count). The config validator and ``config/README.md`` are
    built from it, and any key in it can be swept.
``PERFORMANCE_METRICS``
    ``{metric: "higher" | "lower"}``: the keys of ``TrainResult.metrics`` that ``runs.csv`` reports for
    this family, each with the direction that is better, the headline metric first; imported from the same
    torch-free table. ``run.json`` records it, so the summaries read it with the results.
``build_model(hp) -> nn.Module``
    A freshly initialised model (the caller seeds torch first).
``train(model, hp, seed, device, on_epoch=None) -> TrainResult``
    Fit the model in place; ``on_epoch(epoch, model, metrics)``, if given, is called after each epoch
    (or optimiser phase) so the caller can save checkpoints. ``metrics`` holds every key of
    ``PERFORMANCE_METRICS``, defined as in the final ``TrainResult.metrics`` and computed on the model's
    weights at that epoch. Never raises on divergence: returns ``status="diverged"`` with the reason.
``objective(model, hp, seed, device, dtype) -> Objective``
    The fixed, seeded evaluation loss that landscapes and Hessians are computed from.
"""

from losstopo.sweep.families import get_family

__all__ = ["get_family"]

"""The hyperparameter tables of the model families, one torch-free module per family.

Each module defines ``PARAMS`` (``{name: JSON-schema dict}`` with ``default`` and ``description``),
``check(hp) -> list[str]`` (problems across keys of a full, typed ``hp``, each naming its keys) and
``epoch_count(hp) -> int`` (the last epoch whose model can be kept as a checkpoint). The family module
(losstopo.sweep.families.<name>) imports its table from here; the config validator reads only these.
"""

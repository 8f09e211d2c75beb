"""losstopo: the shape of neural-network loss landscapes across hyperparameter sweeps.

Stages (each a module, each callable from a notebook): ``train`` fits a model, ``directions``
picks a subspace, ``sampling`` evaluates the loss on a grid in it, ``topology`` computes merge
trees and persistence, ``aggregate`` and ``figures`` turn many runs into tables and plots.
"""

__version__ = "0.1.0"

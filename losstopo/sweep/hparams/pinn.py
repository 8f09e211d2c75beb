"""Hyperparameters of the PINN family (losstopo.training.families.pinn): their table and the checks across keys.

Torch-free, so the config validator and the workflow read it without importing torch.
"""

from __future__ import annotations

import math
from typing import Any

ACTIVATIONS = ("tanh", "sin", "gelu", "softplus", "relu")
OPTIMIZERS = ("lbfgs", "adam+lbfgs")

PARAMS: dict[str, dict[str, Any]] = {
    "beta": {
        "type": "number",
        "minimum": 0,
        "default": 1.0,
        "description": "convection coefficient beta in u_t + beta u_x = 0",
    },
    "width": {"type": "integer", "minimum": 1, "default": 50, "description": "units per hidden layer"},
    "depth": {"type": "integer", "minimum": 1, "default": 4, "description": "number of hidden layers"},
    "activation": {
        "type": "string",
        "enum": list(ACTIVATIONS),
        "default": "tanh",
        "description": "hidden-layer activation",
    },
    "n_collocation": {
        "type": "integer",
        "minimum": 1,
        "default": 500,
        "description": "interior collocation points for the PDE residual (seeded, uniform)",
    },
    "n_initial": {
        "type": "integer",
        "minimum": 1,
        "default": 256,
        "description": "points on t = 0 for the initial condition u(x, 0) = sin x",
    },
    "n_boundary": {
        "type": "integer",
        "minimum": 1,
        "default": 100,
        "description": "times t at which u(0, t) and u(2 pi, t) are matched (periodic boundary)",
    },
    "optimizer": {
        "type": "string",
        "enum": list(OPTIMIZERS),
        "default": "lbfgs",
        "description": "L-BFGS alone, or Adam first and then L-BFGS",
    },
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 1.0, "description": "L-BFGS learning rate"},
    "lbfgs_steps": {
        "type": "integer",
        "minimum": 0,
        "default": 1000,
        "description": "maximum L-BFGS iterations (it stops earlier when converged)",
    },
    "lbfgs_history": {
        "type": "integer",
        "minimum": 1,
        "default": 50,
        "description": "L-BFGS history size (curvature pairs kept)",
    },
    "adam_lr": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 1e-3,
        "description": "Adam learning rate (optimizer adam+lbfgs only)",
    },
    "adam_steps": {
        "type": "integer",
        "minimum": 0,
        "default": 1000,
        "description": "Adam steps before L-BFGS (optimizer adam+lbfgs only)",
    },
    "dtype": {
        "type": "string",
        "enum": ["float32", "float64"],
        "default": "float32",
        "description": "training precision (landscapes use their own, float64 by default)",
    },
}

LOG_EVERY = 50  # optimiser iterations per history row / on_epoch call


# runs.csv reports these metrics of a trained model, each with the direction that is better; the first is the
# headline metric the findings test topology against
PERFORMANCE_METRICS = {"rel_l2_error": "lower", "final_loss": "lower"}


def check(hp: dict[str, Any]) -> list[str]:
    """Problems across keys of a full, typed ``hp`` (none for this family)."""
    return []


def epoch_count(hp: dict[str, Any]) -> int:
    """Epochs (history rows, checkpointable models) of a full run: one per LOG_EVERY optimiser steps of
    each phase. L-BFGS can stop earlier when it converges; then the later epochs are absent."""
    adam = math.ceil(hp["adam_steps"] / LOG_EVERY) if hp["optimizer"] == "adam+lbfgs" else 0
    return adam + math.ceil(hp["lbfgs_steps"] / LOG_EVERY)

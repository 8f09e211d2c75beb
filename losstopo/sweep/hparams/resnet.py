"""Hyperparameters of the ResNet family (losstopo.training.families.resnet): their table and the checks across keys.

Torch-free, so the config validator and the workflow read it without importing torch.
"""

from __future__ import annotations

from typing import Any

PARAMS: dict[str, dict[str, Any]] = {
    "dataset": {
        "type": "string",
        "enum": ["digits", "cifar10"],
        "default": "digits",
        "description": "digits: scikit-learn's 8x8 handwritten digits (offline, used at 8x8, 1 channel); "
        "cifar10: the CIFAR-10 binary archive, downloaded once into data_dir",
    },
    "data_dir": {
        "type": "string",
        "default": "data",
        "description": "folder holding cifar-10-binary.tar.gz (downloaded there if absent); unused for digits",
    },
    "data_seed": {
        "type": "integer",
        "minimum": 0,
        "default": 0,
        "description": "seed of the train / test / evaluation subsets (kept fixed across training "
        "seeds so a seed sweep varies initialisation and data order only)",
    },
    "train_size": {
        "type": "integer",
        "minimum": 1,
        "default": 1000,
        "description": "training images, a seeded subset of the training split (digits 1500, CIFAR-10 50000 available)",
    },
    "test_size": {
        "type": "integer",
        "minimum": 1,
        "default": 297,
        "description": "test images for test_loss / test_accuracy, a seeded subset of the test split "
        "(digits 297, CIFAR-10 10000 available)",
    },
    "eval_size": {
        "type": "integer",
        "minimum": 1,
        "default": 256,
        "description": "images in the fixed, seeded evaluation set of the landscape / Hessian "
        "objective, drawn from the split named by eval_split",
    },
    "eval_split": {
        "type": "string",
        "enum": ["train", "test"],
        "default": "train",
        "description": "split the objective's evaluation set comes from: train (the training-loss "
        "landscape, drawn from the training subset) or test",
    },
    "eval_batch_size": {
        "type": "integer",
        "minimum": 1,
        "default": 512,
        "description": "images per forward pass when evaluating (test metrics, objective); "
        "changes memory use only, not the value",
    },
    "depth": {
        "type": "integer",
        "minimum": 8,
        "default": 8,
        "description": "layers with weights, 6n+2 (8, 14, 20, 32, 44, 56, 110); 20 is ResNet-20",
    },
    "width": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 0.5,
        "description": "channel multiplier of the three stages (16, 32, 64 channels at 1.0)",
    },
    "residual": {
        "type": "boolean",
        "default": True,
        "description": "false removes every skip connection (the plain network)",
    },
    "batch_norm": {
        "type": "boolean",
        "default": True,
        "description": "BatchNorm after every convolution (false: convolutions get a bias instead)",
    },
    "optimizer": {
        "type": "string",
        "enum": ["sgd", "adam"],
        "default": "sgd",
        "description": "sgd (with momentum) or adam",
    },
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.05, "description": "initial learning rate"},
    "momentum": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "default": 0.9,
        "description": "SGD momentum (unused by adam)",
    },
    "weight_decay": {
        "type": "number",
        "minimum": 0,
        "default": 5e-4,
        "description": "L2 weight decay (coupled, as in torch's SGD and Adam)",
    },
    "lr_schedule": {
        "type": "string",
        "enum": ["cosine", "step", "none"],
        "default": "cosine",
        "description": "per-step decay: cosine to zero; step: x0.1 at 50% and 75% of training (He "
        "et al.); none: constant",
    },
    "batch_size": {"type": "integer", "minimum": 1, "default": 64, "description": "minibatch size"},
    "epochs": {"type": "integer", "minimum": 1, "default": 10, "description": "passes over the training subset"},
    "augment": {
        "type": "boolean",
        "default": False,
        "description": "random crop after zero padding (4 px on CIFAR-10, 1 px on 8x8 digits) and, on "
        "CIFAR-10 only, random horizontal flips",
    },
    "dtype": {
        "type": "string",
        "enum": ["float32", "float64"],
        "default": "float32",
        "description": "precision of training (the landscape's precision is set by the sampling stage)",
    },
}


# runs.csv reports these metrics of a trained model, each with the direction that is better; the first is the
# headline metric the findings test topology against
PERFORMANCE_METRICS = {
    "test_accuracy": "higher",
    "test_loss": "lower",
    "train_loss": "lower",
    "train_accuracy": "higher",
}


def check(hp: dict[str, Any]) -> list[str]:
    """Problems of a full, typed ``hp`` that its keys' schemas cannot express: a depth that is not 6n+2."""
    if hp["depth"] < 8 or (hp["depth"] - 2) % 6:
        return [f"hyperparameter depth={hp['depth']}: a CIFAR ResNet has depth 6n+2 with n >= 1 (8, 14, 20, 32, ...)"]
    return []


def epoch_count(hp: dict[str, Any]) -> int:
    """Epochs of a run (the last epoch whose model can be kept as a checkpoint)."""
    return hp["epochs"]

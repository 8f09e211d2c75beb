"""Hyperparameters of the UNet family (losstopo.training.families.unet): their table and the checks across keys.

Torch-free, so the config validator and the workflow read it without importing torch.
"""

from __future__ import annotations

from typing import Any

PETS_IMAGES = 7390  # image/trimap pairs of the Oxford-IIIT Pet dataset

PARAMS: dict[str, dict[str, Any]] = {
    "dataset": {
        "type": "string",
        "enum": ["shapes", "pets"],
        "default": "shapes",
        "description": "shapes: generated shapes on textured backgrounds (offline); pets: Oxford-IIIT "
        "Pet images and trimaps, downloaded once into data_dir",
    },
    "data_dir": {
        "type": "string",
        "default": "data/oxford-iiit-pet",
        "description": "pets only: folder holding images.tar.gz and annotations.tar.gz or their "
        "unpacked images/ and annotations/trimaps/",
    },
    "download": {
        "type": "boolean",
        "default": True,
        "description": "pets only: fetch missing archives (false: fail at once, saying where to put them)",
    },
    "data_seed": {
        "type": "integer",
        "minimum": 0,
        "default": 0,
        "description": "seed of the generated shapes and of the train / evaluation split (fixed across "
        "training seeds, so a seed sweep varies initialisation and data order only)",
    },
    "n_images": {
        "type": "integer",
        "minimum": 0,
        "default": 320,
        "description": "images used: shapes generates this many (>= 2); pets takes a seeded subset of "
        "this size, 0 = all 7390 pairs",
    },
    "image_size": {
        "type": "integer",
        "minimum": 8,
        "default": 32,
        "description": "side of the square images and masks (pets are resized, not cropped); a multiple of 2**depth",
    },
    "eval_fraction": {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.2,
        "description": "fraction of n_images held out as the evaluation split (per-epoch metrics)",
    },
    "eval_size": {
        "type": "integer",
        "minimum": 1,
        "default": 32,
        "description": "images of the evaluation split (its first ones, seeded) in the landscape / Hessian objective",
    },
    "eval_batch_size": {
        "type": "integer",
        "minimum": 1,
        "default": 64,
        "description": "images per forward pass when evaluating (metrics, objective); changes "
        "memory use only, not the value",
    },
    "depth": {
        "type": "integer",
        "minimum": 1,
        "maximum": 7,
        "default": 2,
        "description": "number of down-sampling (and up-sampling) levels",
    },
    "base_width": {
        "type": "integer",
        "minimum": 1,
        "default": 8,
        "description": "channels at the first level, doubled at every level down",
    },
    "batch_norm": {
        "type": "boolean",
        "default": True,
        "description": "BatchNorm after every 3x3 convolution (false: the convolutions get a bias)",
    },
    "n_classes": {
        "type": "integer",
        "enum": [2, 3],
        "default": 3,
        "description": "3: foreground / background / boundary (trimap); 2: boundary counted as foreground",
    },
    "loss": {
        "type": "string",
        "enum": ["ce", "ce+dice"],
        "default": "ce",
        "description": "training loss: pixel cross-entropy, optionally plus soft Dice loss (the landscape "
        "objective is always cross-entropy)",
    },
    "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "AdamW learning rate"},
    "weight_decay": {"type": "number", "minimum": 0, "default": 1e-4, "description": "AdamW (decoupled) weight decay"},
    "lr_schedule": {
        "type": "string",
        "enum": ["cosine", "none"],
        "default": "cosine",
        "description": "per-step cosine decay to zero over all epochs, or a constant rate",
    },
    "batch_size": {"type": "integer", "minimum": 1, "default": 16, "description": "minibatch size"},
    "epochs": {"type": "integer", "minimum": 1, "default": 15, "description": "passes over the training split"},
    "dtype": {
        "type": "string",
        "enum": ["float32", "float64"],
        "default": "float32",
        "description": "precision of training (the landscape's precision is set by the sampling stage)",
    },
}


def eval_count(n_images: int, eval_fraction: float) -> int:
    """Images of the evaluation split out of ``n_images``: eval_fraction x n_images, rounded, at least 1."""
    return max(1, round(eval_fraction * n_images))


def split_problems(n_total: int, hp: dict[str, Any]) -> list[str]:
    """Problems of the split of ``n_total`` available images into training, evaluation and objective images."""
    n = hp["n_images"] or n_total
    if hp["dataset"] == "shapes" and n < 2:
        return [f"unet hyperparameter n_images={hp['n_images']}: the shapes dataset needs at least 2"]
    if n > n_total:
        return [f"unet hyperparameter n_images={n}: only {n_total} images available"]
    n_eval = eval_count(n, hp["eval_fraction"])
    if n_eval >= n:
        return [f"unet hyperparameters n_images={n}, eval_fraction={hp['eval_fraction']}: no training images left"]
    if hp["eval_size"] > n_eval:
        return [
            f"unet hyperparameter eval_size={hp['eval_size']} exceeds the evaluation split "
            f"({n_eval} images = eval_fraction x n_images)"
        ]
    return []


# runs.csv reports these metrics of a trained model, each with the direction that is better; the first is the
# headline metric the findings test topology against
PERFORMANCE_METRICS = {
    "mean_iou": "higher",
    "pixel_accuracy": "higher",
    "dice": "higher",
    "eval_loss": "lower",
    "train_loss": "lower",
}


def check(hp: dict[str, Any]) -> list[str]:
    """Problems of a full, typed ``hp`` that its keys' schemas cannot express: image size against depth,
    and the split sizes (pets: against the dataset's 7390 pairs; the job checks again against the files
    it finds)."""
    problems = []
    levels = 2 ** hp["depth"]
    if hp["image_size"] % levels or hp["image_size"] < 2 * levels:
        problems.append(
            f"unet hyperparameters image_size={hp['image_size']}, depth={hp['depth']}: image_size "
            f"must be a multiple of 2**depth = {levels} and at least {2 * levels}"
        )
    return problems + split_problems(PETS_IMAGES if hp["dataset"] == "pets" else hp["n_images"], hp)


def epoch_count(hp: dict[str, Any]) -> int:
    """Epochs of a run (the last epoch whose model can be kept as a checkpoint)."""
    return hp["epochs"]

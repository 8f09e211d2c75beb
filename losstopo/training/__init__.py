"""Stage 1, training: the model families (PINN, ResNet, UNet), their data, the shared epoch loop, and
``losstopo train`` / ``losstopo checkpoint`` (docs/architecture.md)."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.training.train": ["extract_checkpoint", "resolve_hparams", "run_training", "seed_everything"],
    "losstopo.training.loop": ["TrainResult", "fit_epochs"],
    "losstopo.sweep.families": ["get_family"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""The explorer: ``results/explorer.html``, one self-contained page that browses a sweep (linked views of
every run and checkpoint, and mode connectivity). docs/explorer.md."""

from losstopo import lazy_exports

_EXPORTS = {
    "losstopo.explorer.build": ["write"],
    "losstopo.explorer.data": ["collect"],
}
__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

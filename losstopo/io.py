"""Atomic, validated reading and writing of every file a stage produces.

Every writer goes through :func:`atomic_path`: the data lands in a temporary file in the target
directory and is renamed into place only once complete, so a job killed at any moment leaves
either the old file or none, never a truncated one. The file gets the permissions an ordinary
``open(path, "w")`` would give it (the temporary file's private 0600 is not kept), so collaborators
read the outputs as the caller's umask allows.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class InputFileError(ValueError):
    """A missing, corrupt or malformed input file; the message names the file."""


def open_mode(path: Path) -> int:
    """The permission bits ``open(path, "w")`` leaves: an existing file's own, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # the only way to read it; set back at once
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds, with the mode
    ``open(path, "w")`` would give (``open_mode``). Missing parent folders are made as ``mkdir`` makes them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(open_mode(path))
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite_or_str(obj: Any) -> Any:
    """JSON has no inf/nan: write them as the strings "inf", "-inf", "nan" (read back by load_json)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite_or_str(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_str(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite_or_str(obj.item())
    return obj


def save_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_finite_or_str(obj), indent=2, sort_keys=True, default=_json_default) + "\n")


def _restore_nonfinite(obj: Any) -> Any:
    if isinstance(obj, str) and obj in ("inf", "-inf", "nan"):
        return float(obj)
    if isinstance(obj, dict):
        return {k: _restore_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore_nonfinite(v) for v in obj]
    return obj


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return _restore_nonfinite(json.loads(path.read_text()))
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not valid JSON ({exc})") from None


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """Write an uncompressed ``.npz``; metadata dicts are stored as a JSON string under their key."""
    packed = {
        k: (np.array(json.dumps(_finite_or_str(v), default=_json_default)) if isinstance(v, dict) else v)
        for k, v in arrays.items()
    }
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **packed)


def load_npz(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read every array of an ``.npz`` into memory; JSON metadata strings come back as dicts."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in required if k not in out]
    if missing:
        raise InputFileError(f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(out) or 'none'}")
    for key, value in out.items():
        if value.dtype.kind == "U" and value.ndim == 0:
            text = str(value)
            if text.startswith("{"):
                out[key] = _restore_nonfinite(json.loads(text))
    return out


def load_loss_array(path: str | os.PathLike) -> np.ndarray:
    """The loss field of a landscape: a ``.npy`` array, or the ``loss`` array of an ``.npz``."""
    path = Path(path)
    if path.suffix == ".npy":
        return load_array(path)
    if path.suffix == ".npz":
        return np.asarray(load_npz(path, required=("loss",))["loss"])
    raise InputFileError(f"{path}: expected a .npy array or an .npz holding a 'loss' array")


def _ends_with_line_break(path: Path) -> bool:
    """Whether a file ends with a line break, as every table and argument file a stage writes does; an
    empty file counts as whole."""
    with open(path, "rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_csv_table(
    path: str | os.PathLike, columns: tuple[str, ...] = (), numeric: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A table written by a stage (:func:`save_csv`). A file without rows or header (e.g. no checkpoints in
    the sweep) is an empty frame unless ``columns`` are required. InputFileError naming the file when it is
    missing, not CSV, cut short (no final line break), lacks one of ``columns``, or holds something other
    than a number in one of ``numeric`` (``inf`` and ``nan`` are numbers)."""
    import pandas

    path = Path(path)
    try:
        whole = _ends_with_line_break(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    if not whole:
        raise InputFileError(f"{path}: does not end with a line break: cut short (rerun the job that wrote it)")
    try:
        frame = pandas.read_csv(path)
    except pandas.errors.EmptyDataError:
        frame = pandas.DataFrame()
    except (pandas.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputFileError(f"{path}: not a readable CSV table ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none (an empty file)"
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; found {found}")
    for column in numeric:
        values = pandas.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.lower() != "nan")
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise InputFileError(
                f"{path}: column {column!r} holds {frame[column].iloc[row]!r} in row {row + 1}, not a number"
            )
        frame[column] = values
    return frame


def load_array(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` array; InputFileError naming the file when it is missing or not a readable array."""
    path = Path(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npy file ({exc})") from None


def save_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)


def save_argument_file(path: str | os.PathLike, arguments: list[str]) -> None:
    """Write an argument file for ``losstopo <command> --args-file path``: one argument per line, each
    ended by a newline. ValueError for an argument holding a line break (it would read back as two)."""
    broken = [arg for arg in arguments if "\n" in arg]
    if broken:
        raise ValueError(f"{path}: argument {broken[0]!r} holds a line break; an argument file has one per line")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{arg}\n" for arg in arguments), encoding="utf-8")


def load_argument_file(path: str | os.PathLike) -> list[str]:
    """The arguments of a file written by :func:`save_argument_file`, one per line, taken verbatim (no
    ``@`` or other syntax inside). InputFileError naming the file when it is missing, unreadable, or does
    not end with a newline (cut short)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: argument file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not a readable argument file ({exc})") from None
    lines = text.split("\n")
    if lines[-1]:
        raise InputFileError(f"{path}: argument file does not end with a line break (cut short?)")
    return lines[:-1]

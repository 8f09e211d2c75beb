"""Render the config reference (the key tables of ``config/README.md``) from the schema and the
families' PARAMS, so the documentation cannot drift from what the validator accepts.

Regenerate with ``python -m losstopo.sweep.config_docs config/README.md``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from losstopo.sweep.families import FAMILY_MODULES, get_hparams
from losstopo.sweep.schema import load_schema

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m losstopo.sweep.config_docs config/README.md) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "oneOf" in spec:
        return " or ".join(_type(s) for s in spec["oneOf"])
    text = spec.get("type", "any")
    bounds = []
    for key, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in spec:
            bounds.append(f"{symbol} {spec[key]}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _rows(properties: dict, prefix: str, required: tuple[str, ...] = ()) -> list[str]:
    """One row per key; nested objects (``hessian.trace``) list their own keys beneath them. A key without a
    default is ``required`` where the schema requires it, else optional (``none``)."""
    lines = []
    for name, spec in properties.items():
        if "properties" in spec:
            lines.append(f"| `{prefix}{name}` | object | | {spec.get('description', '')} |")
            lines += _rows(spec["properties"], f"{prefix}{name}.", tuple(spec.get("required", ())))
            continue
        default = json.dumps(spec["default"]) if "default" in spec else "required" if name in required else "none"
        lines.append(f"| `{prefix}{name}` | {_type(spec)} | `{default}` | {spec.get('description', '')} |")
    return lines


def _table(properties: dict, prefix: str, required: tuple[str, ...] = ()) -> list[str]:
    return ["| key | type | default | meaning |", "| --- | --- | --- | --- |", *_rows(properties, prefix, required)]


def render() -> str:
    schema = load_schema()
    props = schema["properties"]
    family = schema["definitions"]["family"]
    lines = [BEGIN, "", "### Top level", ""]
    lines += _table({k: v for k, v in props.items() if k in ("results", "device")}, "")
    lines += [
        "",
        "### `families.<name>` (one block per family: the built-in "
        + ", ".join(f"`{f}`" for f in FAMILY_MODULES)
        + ", or a family of your own with its `module`: docs/families.md)",
        "",
    ]
    lines += _table(family["properties"], "families.<name>.", tuple(family["required"]))
    lines += ["", "### `landscape` (also allowed per family as `families.<name>.landscape`)", ""]
    lines += _table(schema["definitions"]["landscape"]["properties"], "landscape.")
    for block in ("hessian", "topology", "profile", "distances", "connectivity", "findings", "figures", "resources"):
        per_family = " (also allowed per family as `families.<name>.hessian`)" if block == "hessian" else ""
        lines += ["", f"### `{block}`{per_family}", ""]
        lines += _table(props[block]["properties"], f"{block}.")
    for name in FAMILY_MODULES:
        lines += ["", f"### Hyperparameters of family `{name}` (`families.{name}.params` / `.sweep`)", ""]
        lines += _table(get_hparams(name).PARAMS, "")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def update_readme(path: str | Path) -> None:
    """Replace the generated section of ``path`` (between the markers) with a fresh rendering."""
    path = Path(path)
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END + "\n")
    path.write_text(head + render() + tail)


if __name__ == "__main__":
    update_readme(sys.argv[1])

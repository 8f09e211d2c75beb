"""Write ``explorer.html``: one self-contained page (data, styles and script inlined; no network) that
browses a whole sweep with linked views. Rendered with jinja2; the data come from
:func:`losstopo.explorer.data.collect`, the page's code is ``explorer.js`` / ``explorer.css`` beside
this module (plain JavaScript and SVG, no external library)."""

from __future__ import annotations

import datetime
import sys
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from losstopo import __version__
from losstopo.explorer.data import collect
from losstopo.io import atomic_path


def render(data: dict) -> str:
    """The page for ``data`` (as :func:`collect` returns it). Raises ValueError if the data hold NaN or
    inf (JSON has neither; the collector writes them as null)."""
    files = resources.files("losstopo.explorer")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: files.joinpath(name).read_text()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.policies["json.dumps_kwargs"] = {"allow_nan": False, "separators": (",", ":")}
    n_units = sum(1 for u in data["units"] if u.get("family"))
    return env.get_template("page.html.j2").render(
        data=data,
        css=Markup(files.joinpath("explorer.css").read_text()),
        js=Markup(files.joinpath("explorer.js").read_text()),
        title=data["results"],
        n_units=n_units,
        version=__version__,
        written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write(results: str | Path, out: str | Path | None = None) -> Path:
    """Collect ``results`` and write the page (default ``results/explorer.html``); returns its path."""
    out = Path(out) if out else Path(results) / "explorer.html"
    page = render(collect(results, link_base=out.parent))
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def main(args) -> int:
    """``losstopo explorer RESULTS_DIR``."""
    out = write(args.results_dir, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0

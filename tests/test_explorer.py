"""The sweep explorer page: its data (slices, merge tree, failed and missing runs) and, in a real headless
Chromium driven by Playwright, the page itself: no console errors, linked views, brushing, pinning, the
slice slider, and a screenshot whose coloured squares are counted against the results folder."""

from __future__ import annotations

import io
import math
import re
import shutil
import time
from base64 import b64decode
from pathlib import Path

import numpy as np
import pytest

from losstopo import cli
from losstopo.curvature.spectral_density import signed_log_density
from losstopo.explorer.data import MAX_CURVE, QMAX, SLICE_CAP, collect, packed, slices
from losstopo.explorer.synthetic import make_results
from losstopo.io import load_json, load_npz

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A synthetic results folder: 3 x 2 grid, 2 seeds, a checkpoint per run; one diverged run, one whose
    sampling failed, one missing altogether."""
    out = tmp_path_factory.mktemp("results")
    made = make_results(out, n_runs=12, seeds=2, resolution=15, diverged=1, failed=1, missing=1, checkpoints=(5,))
    assert cli.main(["explorer", str(out)]) == 0
    return out, made


def test_page_is_self_contained_and_small(results):
    out, _ = results
    page = (out / "explorer.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from a network
    assert "<script src" not in page and "<link" not in page
    assert (out / "explorer.html").stat().st_size < 1e6


def test_failed_and_missing_runs_keep_their_reason(results):
    out, made = results
    data = collect(out)
    units = {u["id"]: u for u in data["units"]}
    diverged, failed = made["diverged"][0], made["failed"][0]
    assert units[diverged]["status"] == "diverged" and "non-finite" in units[diverged]["reason"]
    assert units[failed]["status"] == "failed" and units[failed]["stage"] == "sample"
    assert "CUDA out of memory" in units[failed]["reason"]  # the last line of its log
    assert made["missing"][0] not in units
    assert len([u for u in data["units"] if u["epoch"] is None]) == len(made["runs"])
    assert data["families"]["pinn"]["metrics"][:2] == ["rel_l2_error", "final_loss"]  # performance first
    assert data["families"]["pinn"]["better"] == {"rel_l2_error": "lower", "final_loss": "lower"}


def test_an_unreadable_run_json_is_listed_with_its_reason(browser, results, tmp_path):
    out, _ = results
    shutil.copytree(out / "runs", tmp_path / "runs")
    broken = tmp_path / "runs" / "pinn" / "broken" / "seed~0"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{not json")
    assert cli.main(["explorer", str(tmp_path)]) == 0
    page, errors, _ = open_page(browser, tmp_path / "explorer.html")
    assert "pinn/broken/seed~0: failed" in page.locator("#status-summary").inner_text()
    assert "not valid JSON" in page.locator("#status-summary").inner_text() and errors == []
    page.close()


def test_a_results_folder_without_runs_is_refused_and_an_empty_one_gives_a_page(tmp_path):
    assert cli.main(["explorer", str(tmp_path)]) == 2
    (tmp_path / "runs").mkdir()
    assert cli.main(["explorer", str(tmp_path), "--out", str(tmp_path / "page.html")]) == 0
    assert "no runs" in (tmp_path / "page.html").read_text()


def unpacked(p: dict) -> np.ndarray:
    """What the page's unpack() computes, written again from the format's description."""
    if "b64" in p:
        return np.frombuffer(b64decode(p["b64"]), "<f4").astype(float).reshape(p["shape"])
    codes = np.frombuffer(b64decode(p["q"]), "<u2").astype(float)
    special = {65535: np.nan, 65534: np.inf, 65533: -np.inf}
    values = np.array([special.get(int(c), p["lo"] + c / QMAX * (p["hi"] - p["lo"])) for c in codes])
    return (np.where(np.isfinite(values), 10.0**values, values) if p["log"] else values).reshape(p["shape"])


def test_packed_arrays_round_trip():
    a = np.array([[0.5, np.nan, 3.0], [np.inf, -np.inf, 1e-3]])
    np.testing.assert_array_equal(unpacked(packed(a)), a.astype("<f4"))
    for log in (False, True):
        q = unpacked(packed(a, quantize=True, log=log))
        finite = np.isfinite(a)
        assert np.isnan(q[0, 1]) and q[1, 0] == np.inf and q[1, 1] == -np.inf
        tol = (np.log10(3.0) - np.log10(1e-3)) / QMAX if log else 3.0 / QMAX
        err = np.abs(np.log10(q[finite]) - np.log10(a[finite])) if log else np.abs(q[finite] - a[finite])
        assert err.max() <= tol


def test_slices_of_a_3d_landscape_are_the_cube_planes():
    rng = np.random.default_rng(0)
    loss = rng.random((5, 5, 5))
    s = slices({"loss": loss, "axes": np.tile(np.linspace(-1, 1, 5), (3, 1))})
    planes = unpacked(s["planes"])
    assert planes.shape == (6, 5, 5) and s["slider"][0] == [-1, -1]
    np.testing.assert_allclose(planes[0], loss[:, :, 2], atol=1 / QMAX)
    for plane, (axis, index) in zip(planes[1:], s["slider"][1:]):
        assert axis == 2
        np.testing.assert_allclose(plane, loss[:, :, index], atol=1 / QMAX)
    big = slices({"loss": rng.random((41,) * 4), "axes": np.tile(np.linspace(-1, 1, 41), (4, 1))})
    assert np.prod(big["planes"]["shape"]) <= SLICE_CAP and big["slider"][-1] == [3, 40]


def test_merge_tree_branches_are_the_persistence_pairs(results):
    out, made = results
    data = collect(out)
    run = made["runs"][-1]
    tree = data["details"][run]["tree"]
    pairs = load_json(out / "runs" / run / "topology" / "topology.json")
    assert tree["branches"] == min(pairs["n_pairs"] + pairs["n_components"], 200) == tree["n_pairs"]
    assert tree["parent"][0] == -1 and all(0 <= p < i for i, p in enumerate(tree["parent"]) if i)


def test_density_is_the_signed_log_density_of_the_quadrature_nodes(results):
    """Per sign the curve of losstopo.curvature.spectral_density (as the figures draw it) at MAX_CURVE points, its
    masses and threshold; the negative mass is hessian.json's; a unit without nodes has no curve."""
    out, made = results
    data = collect(out)
    units = {u["id"]: u for u in data["units"]}
    with_negative = 0
    for unit_id, detail in data["details"].items():
        if "density" not in detail:
            continue
        d = detail["density"]
        arrays = load_npz(out / "runs" / unit_id / "hessian" / "density.npz")
        if not arrays["nodes"].size:
            assert d == {"n_nodes": 0, "eigenvalues": []} and unit_id.startswith(made["diverged"][0])
            continue
        signed = signed_log_density(arrays["nodes"], arrays["weights"], n_grid=MAX_CURVE)
        assert d["n_nodes"] == arrays["nodes"].size
        assert (d["mass_positive"], d["mass_negative"], d["near_zero"], d["threshold"]) == (
            signed.mass_positive,
            signed.mass_negative,
            signed.near_zero,
            signed.threshold,
        )
        assert d["mass_negative"] == pytest.approx(units[unit_id]["metrics"]["hessian_negative_mass"], rel=1e-12)
        for sign in ("positive", "negative"):
            curve = getattr(signed, sign)
            assert (d[sign] is None) == (curve is None)
            if curve is None:
                continue
            x, y = unpacked(d[sign]["abs_eigenvalue"]), unpacked(d[sign]["density"])
            assert x.shape == y.shape == (MAX_CURVE,)
            np.testing.assert_allclose(np.log10(x), np.log10(curve[0]), atol=np.ptp(np.log10(curve[0])) / QMAX)
            np.testing.assert_allclose(y, curve[1], atol=np.ptp(curve[1]) / QMAX)
        assert (d["negative"] is None) == (d["mass_negative"] == 0)
        with_negative += d["mass_negative"] > 0
    assert 0 < with_negative < len(data["details"])  # the fixture has units with and without negative curvature


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    start = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return page, errors, time.perf_counter() - start


def test_page_opens_without_errors_and_quickly(browser, results):
    out, _ = results
    page, errors, seconds = open_page(browser, out / "explorer.html")
    assert errors == [] and seconds < 2.0
    assert page.locator("#map rect.cell").count() > 0
    page.close()


def test_selecting_a_run_updates_every_linked_view(browser, results):
    out, made = results
    page, errors, _ = open_page(browser, out / "explorer.html")
    for run in (made["runs"][5], made["failed"][0], f"{made['runs'][3]}/epoch~5"):
        page.click(f"#map rect[data-unit='{run}']")
        selected = page.locator(".unit[data-role='selected']")
        assert selected.get_attribute("data-unit") == run
        views = selected.locator("[data-view]")
        assert views.count() == 7
        assert all(views.nth(i).get_attribute("data-unit") == run for i in range(views.count()))
        assert page.locator("#connectivity").get_attribute("data-unit") == run
        assert page.locator(f"#map rect[data-unit='{run}']").get_attribute("stroke-width") == "2"
    # a complete run draws every view: profile valleys, slice, diagram points, tree branches, curves
    page.click(f"#map rect[data-unit='{made['runs'][5]}']")
    sel = page.locator(".unit[data-role='selected']")
    assert sel.locator("[data-view='profile'] path.valley").count() >= 1
    assert sel.locator("[data-view='diagram'] circle.pair").count() >= 1
    assert sel.locator("[data-view='tree'] line.branch").count() >= 1
    assert sel.locator("[data-view='slice'] canvas").count() == 1
    assert page.locator("#scatter circle[data-unit='" + made["runs"][5] + "']").get_attribute("r") == "6"
    assert "barrier" in page.locator("#connectivity").inner_text()
    # the failed run says why
    page.click(f"#map rect[data-unit='{made['failed'][0]}']")
    assert "CUDA out of memory" in page.locator(".unit[data-role='selected']").inner_text()
    # pin one, select another: both side by side
    page.click("#pin")
    page.click(f"#map rect[data-unit='{made['runs'][6]}']")
    assert page.locator(".unit[data-role='pinned']").get_attribute("data-unit") == made["failed"][0]
    assert page.locator(".unit").count() == 2
    assert errors == []
    page.close()


def test_brushing_links_the_scatter_and_the_map(browser, results):
    out, made = results
    page, errors, _ = open_page(browser, out / "explorer.html")
    box = page.locator("#scatter-svg").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=4)
    page.mouse.up()
    n_points = page.locator("#scatter circle").count()
    assert n_points > 3 and page.locator("#scatter circle.brushed").count() == n_points
    brushed_cells = page.locator("#map rect[stroke='#e07a00']").count()
    assert brushed_cells >= n_points - 1  # every brushed run's squares (the selected one is outlined in black)
    page.click("#clear-brush")
    assert page.locator("#scatter circle.brushed").count() == 0
    run = made["runs"][4]
    page.click(f"#map rect[data-unit='{run}']", modifiers=["Shift"])  # map -> scatter
    assert page.locator(f"#scatter circle[data-unit='{run}']").get_attribute("class") == "brushed"
    assert errors == []
    page.close()


def test_screenshot_has_one_coloured_square_per_unit_with_a_value(browser, results):
    """Count the coloured squares in a screenshot of the map and compare with the folder's train.json files:
    every unit whose rel_l2_error is finite is coloured; diverged (NaN) ones are grey, missing ones pale."""
    from PIL import Image
    from scipy import ndimage

    out, made = results
    expected = 0
    for run in made["runs"]:
        for unit in [out / "runs" / run, out / "runs" / run / "epoch~5"]:
            value = load_json(unit / "train.json")["metrics"]["rel_l2_error"]
            expected += math.isfinite(value)
    page, errors, _ = open_page(browser, out / "explorer.html")
    page.select_option("#metric", "rel_l2_error")
    assert page.locator("#metric option[value='rel_l2_error']").inner_text() == "rel_l2_error (lower is better)"
    assert page.locator("#metric option[value='n_minima']").inner_text() == "n_minima"
    image = np.asarray(Image.open(io.BytesIO(page.locator("#map svg").screenshot())).convert("RGB")).astype(int)
    saturated = image.max(axis=2) - image.min(axis=2) > 60  # viridis colours; greys, black and white are not
    _, n_coloured = ndimage.label(saturated)
    assert n_coloured == expected == int(page.locator("#status-summary").get_attribute("data-coloured"))
    grey, n_grey = ndimage.label(np.abs(image - 154).max(axis=2) <= 2)  # the grey of units without a value
    sizes = ndimage.sum_labels(np.ones_like(grey), grey, index=range(1, n_grey + 1))
    assert (sizes >= 16).sum() == 2 * len(made["diverged"])  # the diverged run and its checkpoint (not text)
    assert errors == []
    page.close()


def test_slice_slider_moves_through_a_3d_landscape(browser, tmp_path):
    make_results(tmp_path, n_runs=2, seeds=2, resolution=7, dim=3)
    assert cli.main(["explorer", str(tmp_path)]) == 0
    page, errors, _ = open_page(browser, tmp_path / "explorer.html")
    view = page.locator(".unit[data-role='selected'] [data-view='slice']")
    before = view.locator("canvas").screenshot()
    slider = view.locator("input.slice-slider")
    assert slider.get_attribute("max") == "7"  # the central plane and 7 positions along a3
    slider.fill("1")
    assert view.get_attribute("data-plane") == "1" and "a3 = -1" in view.inner_text()
    assert view.locator("canvas").screenshot() != before
    assert errors == []
    page.close()


def _path_points(d: str) -> np.ndarray:
    """The (x, y) vertices of an SVG path drawn by the page's polyline() ("M x,y L x,y ...")."""
    return np.array(re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d), dtype=float)


def test_density_view_draws_each_sign_on_a_log_axis_and_states_the_masses(browser, results):
    """The curve of a sign is drawn exactly when that sign has mass; each curve's peak sits at its |lambda|
    on the log x axis (300 px wide, margins 46 and 8); the note states the three masses and the threshold;
    a unit whose density.npz has no nodes says so."""
    out, made = results
    data = collect(out)
    density = {run: data["details"][run]["density"] for run in made["runs"]}
    negative = next(run for run in made["runs"] if density[run].get("mass_negative", 0) > 0)
    positive = next(run for run in made["runs"] if density[run].get("mass_negative") == 0)
    page, errors, _ = open_page(browser, out / "explorer.html")
    for run in (negative, positive, made["diverged"][0]):
        d = density[run]
        page.click(f"#map rect[data-unit='{run}']")
        view = page.locator(".unit[data-role='selected'] [data-view='density']")
        assert view.get_attribute("data-unit") == run
        if not d["n_nodes"]:
            assert "no quadrature nodes" in view.inner_text() and view.locator("path").count() == 0
            continue
        assert view.locator("path.density-negative").count() == (d["mass_negative"] > 0)
        assert view.locator("path.density-positive").count() == 1
        curves = {
            s: (unpacked(d[s]["abs_eigenvalue"]), unpacked(d[s]["density"]))
            for s in ("positive", "negative")
            if d[s] is not None
        }
        lo = min(np.log10(x).min() for x, _ in curves.values())
        hi = max(np.log10(x).max() for x, _ in curves.values())
        for sign, (x, y) in curves.items():
            points = _path_points(view.locator(f"path.density-{sign}").get_attribute("d"))
            assert len(points) == MAX_CURVE
            peak = 46 + (np.log10(x[np.argmax(y)]) - lo) / (hi - lo) * (300 - 46 - 8)
            assert points[np.argmin(points[:, 1]), 0] == pytest.approx(peak, abs=1.0)  # SVG y grows downwards
        text = view.inner_text()
        stated = dict(re.findall(r"(λ > 0|λ < 0|not drawn\)): ([-\d.e]+)", text))
        assert float(stated["λ > 0"]) == pytest.approx(d["mass_positive"], rel=1e-3)
        assert float(stated["λ < 0"]) == pytest.approx(d["mass_negative"], rel=1e-3, abs=1e-12)
        assert float(stated["not drawn)"]) == pytest.approx(d["near_zero"], rel=1e-3)
        threshold = float(re.search(r"max \|λ\| = ([-\d.e]+)", text).group(1))
        assert threshold == pytest.approx(d["threshold"], rel=1e-3)
        assert ("λ < 0 (none)" in text) == (d["mass_negative"] == 0)
    assert errors == []
    page.close()

"""The benchmarks' timing protocol (benchmarks/harness.py): interleaving, medians, refusal under load."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import harness  # noqa: E402


def test_rounds_are_interleaved_and_rotated(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    calls = []
    sides = {name: (lambda name=name: calls.append(name)) for name in ("ours", "a", "b")}
    result = harness.compare("t", sides, rounds=4, out=io.StringIO())
    assert calls == ["ours", "a", "b", "a", "b", "ours", "b", "ours", "a", "ours", "a", "b"]
    assert all(len(result.wall[s]) == 4 for s in sides)


def test_ratio_median_and_spread(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    monkeypatch.setattr(harness, "usable_cores", lambda: 2)
    out = io.StringIO()
    result = harness.compare("t", {"ours": lambda: None, "peer": lambda: None}, rounds=3, out=out)
    result.wall = {"ours": [1.0, 2.0, 1.5], "peer": [3.0, 3.0, 4.5]}
    assert result.median("ours") == 1.5 and result.ratio("peer") == pytest.approx(2.0)
    assert result.spread("ours") == pytest.approx(1 / 1.5)
    assert result.round_ratios("peer") == [3.0, 1.5, 3.0]
    line = result.line()
    assert line.startswith("BENCH t ours=1.500 peer=3.000 ratio=2.00 (1.50-3.00)") and "load=0.5/0.5 cores=2" in line
    assert out.getvalue().startswith("BENCH t ")


def test_no_ratio_when_busier_than_the_cores(monkeypatch):
    loads = iter([(1.0, 0, 0), (3.5, 0, 0)])
    monkeypatch.setattr(os, "getloadavg", lambda: next(loads))
    monkeypatch.setattr(harness, "usable_cores", lambda: 2)
    result = harness.compare("t", {"ours": lambda: None, "peer": lambda: None}, rounds=1, out=io.StringIO())
    assert result.ratio("peer") is None
    assert "ratio=refused" in result.line() and "(no ratio: load average 3.5 > 2 cores)" in result.line()


def test_projection_pairs_and_ours_alone(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    monkeypatch.setattr(harness, "usable_cores", lambda: 2)
    monkeypatch.setattr(harness.time, "perf_counter", iter(range(0, 1000, 2)).__next__)  # every call: 2 s wall
    result = harness.compare(
        "t",
        {"ours": lambda: None, "loop": lambda: None, "matmul": lambda: None},
        rounds=2,
        scale={"loop": 10.0},
        out=None,
    )
    assert result.wall == {"ours": [2, 2], "loop": [20, 20], "matmul": [2, 2]}  # loop: timed on a tenth, projected
    assert result.notes == {"projected": "loop*10"}
    loop = result.pair("loop", "t_loop")
    assert loop.line().startswith("BENCH t_loop ours=2.000 loop=20.000 ratio=10.00 (10.00-10.00)")
    assert "projected=loop*10" in loop.line()
    roofline = result.pair("matmul", "t_roofline", "fraction").line()
    assert roofline.startswith("BENCH t_roofline ours=2.000 matmul=2.000 fraction=1.00") and "projected" not in roofline
    out = io.StringIO()
    alone = harness.compare("a", {"ours": lambda: None}, rounds=3, out=out)  # a peer not installed: no ratio
    assert alone.rounds == 3 and "ratio" not in out.getvalue() and out.getvalue().startswith("BENCH a ours=2.000")


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs at least ours"):
        harness.compare("t", {})
    with pytest.raises(ValueError, match="rounds >= 1"):
        harness.compare("t", {"ours": lambda: None}, rounds=0)
    with pytest.raises(ValueError, match="scale"):
        harness.compare("t", {"ours": lambda: None, "loop": lambda: None}, scale={"lop": 2.0})
    with pytest.raises(ValueError, match="threads"):
        harness.limit_threads(0)

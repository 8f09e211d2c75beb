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


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one peer"):
        harness.compare("t", {"ours": lambda: None})
    with pytest.raises(ValueError, match="threads"):
        harness.limit_threads(0)

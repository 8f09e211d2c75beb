"""PINN landscape sampling speed: our sampler, its generic path, the per-point loop, landscaper 1.3.1,
and the matrix products alone (the roofline of this machine for these shapes).

Same trained PINN (4 x 50 tanh, 1000 collocation points by default), same directions, same grid,
same precision and thread count for every side, timed in interleaved rounds (median and spread):

* ``ours``: ``losstopo.landscape.sampling.sample`` as the workflow runs it (the PINN's fused tanh path);
* ``generic``: the same sampler with ``torch.vmap`` over the plain objective (what every family gets);
* ``loop``: our per-point reference loop;
* ``landscaper``: ``compute_loss_landscape``, the loss written as its users write it (autograd for
  u_x, u_t). It rescales the directions it is given; we hand them over in its per-tensor
  normalisation and pick ``distance`` so that its grid is exactly ours;
* ``matmul``: only the batched matrix products ``ours`` performs, same shapes, same chunks.

All landscapes are checked against ours before any timing is printed. On large grids the two slow
sides can be timed on part of it (``--slow-points M``): the loop on the first M grid points, and
landscaper on the 2-D grid of the first two directions; their times are then projected to the whole
grid per point (``projected=side*factor`` in the line). ``--shard-points M`` times ours alone on the
first M points of the grid (one shard) and projects the whole landscape.

Timing protocol: ``harness.py`` (same threads for every side, interleaved rounds, median and spread, no ratio
on a machine busier than its cores). All sides run in the same rounds; the BENCH lines are ours against one
peer each (``sample_pinn`` landscaper, ``_loop``, ``_generic``) in seconds for the whole grid, and
``_roofline`` with ``fraction`` = matmul / ours.

    python benchmarks/bench_sampling.py [--resolution 41] [--dim 2] [--precision float64 float32]
        [--threads 1] [--rounds 3] [--device cpu] [--slow-points M] [--shard-points M] [--hp JSON]

``run(...)`` returns the comparison; ``report`` prints the per-point times and the BENCH lines.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import statistics
from typing import Callable

os.environ.setdefault("TQDM_DISABLE", "1")  # landscaper draws a tqdm bar per landscape

import numpy as np
import torch
from harness import Comparison, add_arguments, compare, limit_threads

from losstopo.device import resolve_device
from losstopo.landscape.directions import Layout, random_directions
from losstopo.landscape.sampling import auto_batch_size, grid_axes, sample
from losstopo.objective import Objective
from losstopo.sweep.families import defaults
from losstopo.training.families import pinn

SIDES = ("ours", "generic", "loop", "landscaper", "matmul")
PAPER_SIZE = {"n_collocation": 1000}  # the paper's PINN, as measured in docs/sampling.md (the default trains on 500)
AGREEMENT = {"float64": (1e-9, 1e-6), "float32": (1e-4, 1e-3)}  # max rel. diff vs ours: our paths, landscaper


def landscaper_loss(beta: float, pts: pinn.CollocationSet):
    """The PINN loss as a landscaper user writes it: autograd for u_x, u_t on the full collocation batch."""
    x_res = pts.xt[: pts.n_res]
    a, b = pts.n_res, pts.n_res + pts.n_ic
    x_ic, x_b0, x_b1 = pts.xt[a:b], pts.xt[b : b + pts.n_bc], pts.xt[b + pts.n_bc :]

    def scalar_fn(model, data) -> float:
        with torch.enable_grad():  # landscaper evaluates under torch.no_grad()
            x = x_res.clone().requires_grad_(True)
            u = model(x)
            du = torch.autograd.grad(u.sum(), x)[0]
        residual = du[:, 1] + beta * du[:, 0]
        ic = model(x_ic) - pts.u_initial
        bc = model(x_b0) - model(x_b1)
        return float((ic.double() ** 2).mean() + (residual.double() ** 2).mean() + (bc.double() ** 2).mean())

    return scalar_fn


def per_tensor_unit(directions: np.ndarray, layout: Layout) -> np.ndarray:
    """landscaper's own normalisation (each tensor of a direction to norm sqrt(numel)), applied up front."""
    out = directions.copy()
    for a, b in zip(layout.offsets[:-1], layout.offsets[1:]):
        for row in out:
            norm = np.linalg.norm(row[a:b])
            if norm > 0:
                row[a:b] *= np.sqrt(b - a) / norm
    return out


def matmul_roofline(objective: Objective, n_points: int, batch: int) -> Callable[[], None]:
    """The batched products of ``pinn.batched_tanh_forward`` alone, for ``n_points`` in chunks of ``batch``.

    Per chunk of B networks (feature-major, as there): for layer 0 one product of the B networks' stacked
    weights and biases (B out, 3) with the inputs and a row of ones (3, N); for the other layers the weights
    (B, out, in) times the values (B, in, N) and times the tangents (B, in, R); all written into
    preallocated outputs: nothing else.
    """
    meta, net = objective.metadata, objective.model
    p = next(net.parameters())
    n = meta["n_collocation"] + meta["n_initial"] + 2 * meta["n_boundary"]
    r = meta["n_collocation"]
    shapes = [tuple(layer.weight.shape) for layer in net.layers]  # (out, in)
    tensors: dict[tuple, torch.Tensor] = {}  # one tensor per role and shape: the hidden layers share theirs

    def new(role, *shape):
        if (role, *shape) not in tensors:
            tensors[(role, *shape)] = torch.randn(*shape, dtype=p.dtype, device=p.device)
        return tensors[(role, *shape)]

    def operands(b):
        (out, fan_in), ops = shapes[0], []
        ops.append((new("w", b * out, fan_in + 1), new("in", fan_in + 1, n), new("out", b * out, n)))
        for out, fan_in in shapes[1:]:
            ops.append((new("w", b, out, fan_in), new("in", b, fan_in, n), new("out", b, out, n)))
            ops.append((new("w", b, out, fan_in), new("in", b, fan_in, r), new("out", b, out, r)))
        return ops

    chunks = [batch] * (n_points // batch) + ([n_points % batch] if n_points % batch else [])
    prepared = {b: operands(b) for b in set(chunks)}

    def run():
        for b in chunks:
            for w, x, out in prepared[b]:
                torch.matmul(w, x, out=out)
        if p.device.type == "cuda":
            torch.cuda.synchronize(p.device)

    return run


@dataclasses.dataclass
class Case:
    """One benchmark problem: the objective in one precision, its directions and grid, the peers' inputs."""

    objective: Objective
    model: torch.nn.Module
    directions: np.ndarray
    axes: np.ndarray
    n_points: int
    slow_points: int  # grid points the loop is timed on
    batch: int
    landscaper_args: dict
    hp: dict


def build_case(
    model32: torch.nn.Module,
    hp: dict,
    precision: str,
    device: torch.device,
    resolution: int,
    dim: int,
    span: float,
    slow_points: int | None,
) -> Case:
    """The trained model (float32) cast to ``precision`` on ``device``, with the grid and peer inputs."""
    dtype = getattr(torch, precision)
    model = pinn.build_model(hp).to(device=device, dtype=dtype)
    model.load_state_dict(model32.state_dict())
    objective = pinn.objective(model, hp, 0, device, dtype)
    layout = Layout.of(model)
    directions = per_tensor_unit(random_directions(model, dim, run_seed=0), layout)
    axes = grid_axes(dim, resolution, span)
    n = resolution**dim
    # landscaper: step = model_norm * distance / (steps / 2) / ||d||, so this distance gives our step span / half
    half = (resolution - 1) / 2
    theta_norm = float(torch.linalg.vector_norm(torch.cat([p.detach().reshape(-1) for p in model.parameters()])))
    distance = span / half * (resolution / 2) * np.linalg.norm(directions[0]) / theta_norm
    dirs_list = [
        [
            torch.as_tensor(row[a:b], dtype=dtype, device=device).view(s)
            for s, a, b in zip(layout.shapes, layout.offsets[:-1], layout.offsets[1:])
        ]
        for row in directions[:2]
    ]
    scalar_fn = landscaper_loss(float(hp["beta"]), pinn.collocation_points(hp, 0, device, dtype))
    landscaper_args = {
        "dirs": dirs_list,
        "scalar_fn": scalar_fn,
        "steps": resolution,
        "distance": distance,
        "dim": min(dim, 2),
        "device": device.type,
    }
    batch = auto_batch_size(objective, layout.size, device, dtype)
    return Case(objective, model, directions, axes, n, min(n, slow_points or n), batch, landscaper_args, hp)


def sides(case: Case) -> dict[str, Callable[[], np.ndarray | None]]:
    """Named callables, one per side; each returns its losses (flat, C order) or None (``matmul``).
    ``landscaper`` is left out (and said so) where it is not installed."""
    generic = dataclasses.replace(case.objective, batched_loss_fn=None)

    try:
        from landscaper.compute import compute_loss_landscape
    except ImportError as exc:
        print(f"landscaper cannot be imported ({exc}; make bench installs it): that side is left out")
        peer = {}
    else:

        def landscaper():
            with contextlib.redirect_stdout(io.StringIO()):  # landscaper prints statistics
                loss, _ = compute_loss_landscape(case.model, None, **case.landscaper_args)
            return loss.reshape(-1)

        peer = {"landscaper": landscaper}
    return peer | {
        "ours": lambda: sample(case.objective, case.directions, case.axes, batch_size=case.batch, progress=False).loss,
        "generic": lambda: sample(generic, case.directions, case.axes, batch_size=case.batch, progress=False).loss,
        "loop": lambda: (
            sample(
                case.objective,
                case.directions,
                case.axes,
                method="loop",
                progress=False,
                index_range=(0, case.slow_points),
            ).loss
        ),
        "matmul": matmul_roofline(case.objective, case.n_points, case.batch),
    }


def side_points(case: Case, side: str) -> int:
    """Grid points a side evaluates per call."""
    if side == "loop":
        return case.slow_points
    if side == "landscaper":
        return case.axes.shape[1] ** min(len(case.axes), 2)
    return case.n_points


def check_agreement(case: Case, results: dict[str, np.ndarray], precision: str) -> dict[str, float]:
    """Max relative difference of each side's landscape from ours; SystemExit if any is too large."""
    ours = results["ours"]
    diffs = {}
    if "generic" in results:
        diffs["generic"] = np.max(np.abs(results["generic"] - ours) / np.abs(ours))
    if "loop" in results:
        diffs["loop"] = np.max(np.abs(results["loop"] - ours[: case.slow_points]) / np.abs(ours[: case.slow_points]))
    if "landscaper" in results:
        theirs = results["landscaper"]
        plane = (
            ours
            if len(case.axes) == 2
            else sample(  # landscaper ran on the plane of the first two directions
                case.objective, case.directions[:2], case.axes[:2], batch_size=case.batch, progress=False
            ).loss
        )
        keep = theirs != theirs.max()  # landscaper adds noise to its maximum
        diffs["landscaper"] = np.max(np.abs(theirs - plane)[keep] / np.abs(plane[keep]))
    ours_tol, peer_tol = AGREEMENT[precision]
    bad = {k: v for k, v in diffs.items() if v > (peer_tol if k == "landscaper" else ours_tol)}
    if bad:
        raise SystemExit(f"samplers disagree with ours ({precision}): {bad}; timings not reported")
    return diffs


def trained_model(hp: dict, train_steps: int) -> torch.nn.Module:
    """The benchmark's PINN, trained on the CPU in float32 (seed 0)."""
    torch.manual_seed(0)
    model = pinn.build_model(hp | {"dtype": "float32"})
    pinn.train(model, hp | {"dtype": "float32", "lbfgs_steps": train_steps}, 0, "cpu")
    return model


def run(
    rounds: int = 3,
    precision: str = "float64",
    resolution: int = 21,
    dim: int = 2,
    span: float = 1.0,
    device: str = "cpu",
    train_steps: int = 200,
    hp: dict | None = None,
    slow_points: int | None = None,
    only: tuple[str, ...] = SIDES,
) -> tuple[Comparison, dict]:
    """The sides of ``only`` in ``rounds`` interleaved rounds (``harness.compare``; threads as ``limit_threads``
    set them), each side's time projected to the whole grid per point. Every side runs once first (warm-up), and
    its landscape is checked against ours (SystemExit on disagreement) before anything is timed.

    Returns the comparison (not printed) and {"points": {side: points per call}, "n_points", "batch",
    "agreement": {side: max rel. diff vs ours}}.
    """
    hp = defaults(pinn) | PAPER_SIZE | (hp or {})
    case = build_case(
        trained_model(hp, train_steps), hp, precision, resolve_device(device), resolution, dim, span, slow_points
    )
    named = {k: v for k, v in sides(case).items() if k in only}
    named = {k: named[k] for k in SIDES if k in named}  # ours first
    sample(case.objective, case.directions, grid_axes(dim, 3, span), progress=False)  # first-call costs
    outputs = {k: fn() for k, fn in named.items()}
    agreement = check_agreement(case, {k: v for k, v in outputs.items() if v is not None}, precision)
    points = {k: side_points(case, k) for k in named}
    result = compare(
        "sample_pinn", named, rounds=rounds, out=None, scale={k: case.n_points / m for k, m in points.items()}
    )
    return result, {"points": points, "n_points": case.n_points, "batch": case.batch, "agreement": agreement}


def shard_projection(
    rounds: int = 3,
    precision: str = "float32",
    resolution: int = 41,
    dim: int = 4,
    shard_points: int = 100_000,
    device: str = "cpu",
    train_steps: int = 200,
    hp: dict | None = None,
) -> tuple[Comparison, dict]:
    """Ours alone on the first ``shard_points`` points of the r^k grid (one shard), in ``rounds`` rounds: the
    comparison (side ``shard``, seconds per shard, not printed) and {"points", "n_points", "batch"}; the whole
    landscape is projected from it per point (same chunks, so the same cost per point)."""
    hp = defaults(pinn) | PAPER_SIZE | (hp or {})
    case = build_case(trained_model(hp, train_steps), hp, precision, resolve_device(device), resolution, dim, 1.0, None)
    m = min(shard_points, case.n_points)

    def shard():
        return sample(
            case.objective, case.directions, case.axes, batch_size=case.batch, progress=False, index_range=(0, m)
        ).loss

    if not np.all(np.isfinite(shard())):  # also the warm-up
        raise SystemExit("the shard holds non-finite losses")
    return compare("shard", {"shard": shard}, rounds=rounds, out=None), {
        "points": m,
        "n_points": case.n_points,
        "batch": case.batch,
    }


def peak_memory_line(device: torch.device) -> None:
    if device.type == "cuda":
        gib = torch.cuda.max_memory_allocated(device) / 2**30
        print(f"BENCH gpu_peak_memory gib={gib:.2f} device={torch.cuda.get_device_name(device).replace(' ', '_')}")


def report(result: Comparison, info: dict, precision: str, name: str) -> None:
    """Per-point times, agreement, and the BENCH lines: ours against each peer (whole grid, seconds; a side
    timed on part of the grid projected per point) and the roofline fraction (matmul / ours)."""
    n = info["n_points"]
    print(f"{precision}: {n} points, chunk {info['batch']}; median per point over {result.rounds} rounds (wall, CPU):")
    for side in result.sides:
        part = "" if info["points"][side] == n else f", timed on {info['points'][side]} points and projected"
        print(
            f"  {side:10s} {1e3 * result.median(side) / n:.3f} ms, "
            f"{1e3 * statistics.median(result.cpu[side]) / n:.3f} ms{part}"
        )
    print("  agreement with ours (max rel. diff): " + ", ".join(f"{k} {v:.1e}" for k, v in info["agreement"].items()))
    for peer, suffix, key in (
        ("landscaper", "", "ratio"),
        ("loop", "_loop", "ratio"),
        ("generic", "_generic", "ratio"),
        ("matmul", "_roofline", "fraction"),
    ):
        if peer in result.sides:
            print(result.pair(peer, name + suffix, key).line(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=41)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--span", type=float, default=1.0)
    parser.add_argument("--precision", nargs="+", choices=("float64", "float32"), default=["float64", "float32"])
    add_arguments(parser, rounds=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--hp", type=json.loads, default=None, help="PINN hyperparameters (JSON) over the defaults")
    parser.add_argument(
        "--slow-points",
        type=int,
        default=None,
        help="time the loop on this many grid points and landscaper on a 2-D slice; project",
    )
    parser.add_argument(
        "--shard-points",
        type=int,
        default=None,
        help="time ours alone on one shard of this many points and project the whole grid",
    )
    parser.add_argument("--sides", default=",".join(SIDES), help=f"comma-separated subset of {','.join(SIDES)}")
    parser.add_argument("--name", default=None, help="BENCH line name (default sample_pinn[_float32])")
    args = parser.parse_args()
    limit_threads(args.threads)
    device = resolve_device(args.device)
    print(f"PINN sampling, {args.resolution}^{args.dim} grid, {args.threads} thread(s), device {device}")
    common = {
        "rounds": args.rounds,
        "resolution": args.resolution,
        "dim": args.dim,
        "device": args.device,
        "train_steps": args.train_steps,
        "hp": args.hp,
    }
    for precision in args.precision:
        name = args.name or ("sample_pinn" + ("" if precision == "float64" else "_" + precision))
        if args.shard_points:
            result, info = shard_projection(precision=precision, shard_points=args.shard_points, **common)
            result.name = name
            result.notes |= {
                "points": str(info["points"]),
                "whole_projected": f"{result.median('shard') * info['n_points'] / info['points']:.3f}",
            }
            print(f"{precision}: {info['points']} of {info['n_points']} points per shard, chunk {info['batch']}")
            print(result.line(), flush=True)
            continue
        result, info = run(
            precision=precision,
            span=args.span,
            slow_points=args.slow_points,
            only=tuple(args.sides.split(",")),
            **common,
        )
        report(result, info, precision, name)
    peak_memory_line(device)


if __name__ == "__main__":
    main()

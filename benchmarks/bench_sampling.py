"""Landscape sampling speed: our batched sampler vs our per-point loop vs landscaper 1.3.1.

Same trained PINN (4 x 50 tanh, 1000 collocation points), same two directions, same 41 x 41 grid,
same precision for all three. landscaper rescales the directions it is given (each tensor to norm
sqrt(numel), then the whole direction to model_norm * distance / (steps / 2)); we hand it directions
already in its per-tensor normalisation and pick ``distance`` so that its grid is exactly ours, and
check that its losses agree with ours before timing is reported.

    python benchmarks/bench_sampling.py [--resolution 41] [--precision float64] [--threads N] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # landscaper draws a tqdm bar per landscape

import numpy as np
import torch

from losstopo.directions import Layout, random_directions
from losstopo.families import defaults, pinn
from losstopo.sampling import grid_axes, sample


def landscaper_loss(beta: float, pts: pinn.CollocationSet):
    """The PINN loss as a landscaper user writes it: autograd for u_x, u_t on the full collocation batch."""
    x_res = pts.xt[:pts.n_res]
    a, b = pts.n_res, pts.n_res + pts.n_ic
    x_ic, x_b0, x_b1 = pts.xt[a:b], pts.xt[b:b + pts.n_bc], pts.xt[b + pts.n_bc:]

    def scalar_fn(model, data) -> float:
        with torch.enable_grad():  # landscaper evaluates under torch.no_grad()
            x = x_res.clone().requires_grad_(True)
            u = model(x)
            du = torch.autograd.grad(u.sum(), x)[0]
        residual = du[:, 1] + beta * du[:, 0]
        ic = model(x_ic) - pts.u_initial
        bc = model(x_b0) - model(x_b1)
        return float((ic ** 2).mean() + (residual ** 2).mean() + (bc ** 2).mean())

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


def timed(fn):
    """(result, wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=41)
    parser.add_argument("--span", type=float, default=1.0)
    parser.add_argument("--precision", choices=("float64", "float32"), default="float64")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best time of each sampler is reported")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from landscaper.compute import compute_loss_landscape

    dtype = getattr(torch, args.precision)
    hp = defaults(pinn) | {"n_collocation": 1000, "lbfgs_steps": args.train_steps}  # the size docs/sampling.md measured
    torch.manual_seed(0)
    model = pinn.build_model(hp)
    pinn.train(model, hp, 0, "cpu")
    model = model.to(dtype)
    objective = pinn.objective(model, hp, 0, "cpu", dtype)
    layout = Layout.of(model)
    directions = per_tensor_unit(random_directions(model, 2, run_seed=0), layout)
    r, half = args.resolution, (args.resolution - 1) / 2
    axes = grid_axes(2, r, args.span)
    n = r * r
    print(f"PINN 4x50 tanh, {hp['n_collocation']} collocation points, P={layout.size}, {r}x{r} grid, "
          f"{args.precision}, {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")

    # landscaper: step = model_norm * distance / (steps / 2) / ||d||, so this distance gives our step span / half
    theta_norm = float(torch.linalg.vector_norm(torch.cat([p.detach().reshape(-1) for p in model.parameters()])))
    distance = args.span / half * (r / 2) * np.linalg.norm(directions[0]) / theta_norm
    dirs_list = [[torch.as_tensor(row[a:b], dtype=dtype).view(s) for s, a, b in
                  zip(layout.shapes, layout.offsets[:-1], layout.offsets[1:])] for row in directions]
    scalar_fn = landscaper_loss(float(hp["beta"]), pinn.collocation_points(hp, 0, "cpu", dtype))

    sample(objective, directions, grid_axes(2, 3, args.span), progress=False)  # warm-up: first-call costs
    runs = {"ours": lambda: sample(objective, directions, axes, progress=False),
            "loop": lambda: sample(objective, directions, axes, method="loop", progress=False),
            "landscaper": lambda: compute_loss_landscape(model, None, dirs_list, scalar_fn, steps=r,
                                                         distance=distance, dim=2, device="cpu")}
    best: dict[str, tuple] = {}
    for _ in range(args.repeat):  # interleaved rounds, best of each: less exposed to other load on the machine
        for name, fn in runs.items():
            with contextlib.redirect_stdout(io.StringIO()):  # landscaper prints statistics
                result = timed(fn)
            if name not in best or result[1] < best[name][1]:
                best[name] = result
    (ours, t_ours, c_ours), (loop, t_loop, c_loop) = best["ours"], best["loop"]
    (theirs, _), t_theirs, c_theirs = best["landscaper"]

    ours_grid, loop_grid = ours.loss.reshape(r, r), loop.loss.reshape(r, r)
    keep = theirs != theirs.max()  # landscaper adds noise to its maximum
    rel_peer = np.max(np.abs(theirs - ours_grid)[keep] / np.abs(ours_grid[keep]))
    rel_loop = np.max(np.abs(loop_grid - ours_grid) / np.abs(ours_grid))
    print(f"agreement: max rel. diff batched vs loop {rel_loop:.1e}, vs landscaper {rel_peer:.1e}; "
          f"batch_size {ours.batch_size}")
    if rel_loop > 1e-6 or rel_peer > 1e-4:
        raise SystemExit("the three samplers disagree: timings not reported")
    print(f"points/s: ours {n / t_ours:.0f}, loop {n / t_loop:.0f}, landscaper {n / t_theirs:.0f}; "
          f"CPU seconds: ours {c_ours:.1f}, loop {c_loop:.1f}, landscaper {c_theirs:.1f}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"BENCH sample_pinn ours={t_ours:.3f} landscaper={t_theirs:.3f} ratio={t_theirs / t_ours:.2f}")
    print(f"BENCH sample_pinn_loop ours={t_ours:.3f} loop={t_loop:.3f} ratio={t_loop / t_ours:.2f}")


if __name__ == "__main__":
    main()

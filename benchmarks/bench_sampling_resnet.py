"""Loss-landscape sampling of a ResNet-20: our batched evaluation against landscaper's per-point loop.

Same model (ResNet-20, BatchNorm in eval mode), same 128 CIFAR-shaped inputs (synthetic: the timing
does not depend on the pixel values), same two directions, same grid. landscaper 1.3.1's
``compute_loss_landscape`` normalises the directions and walks to each grid point by repeated
in-place additions; we hand it directions already in its normalised form and evaluate the same grid
points with ``losstopo.landscape.sampling.sample`` (``theta_0 + A D``, chunks under ``torch.vmap``). Both
landscapes are compared before the timings are printed, so a fast wrong answer cannot pass.

    python benchmarks/bench_sampling_resnet.py [--quick | --steps 21] [--images 128] [--device auto]
        [--threads 1] [--rounds 3]

Timing protocol: ``harness.py``; prints ``BENCH sample_resnet20 ours=<s> landscaper=<s> ratio=<landscaper/ours>
...`` (ours alone, without a ratio, where landscaper is not installed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from bench_sampling import peak_memory_line  # this folder
from harness import Comparison, add_arguments, compare, limit_threads

from losstopo.device import resolve_device
from losstopo.landscape.sampling import sample
from losstopo.training.families.resnet import ResNet, classification_objective


def calibrate_batch_norm(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Running statistics = the statistics of ``x``, so the eval-mode loss is that of a sane network
    (with the initial running variance of 1 the logits of an untrained ResNet-20 explode)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def landscaper_directions(
    model: torch.nn.Module, k: int, steps: int, distance: float, gen: torch.Generator
) -> list[list[torch.Tensor]]:
    """Random directions in the form landscaper normalises them to (so its normalisation is a no-op),
    together with the grid step it uses: each parameter tensor of norm sqrt(numel), then the whole
    direction scaled to norm ``|theta_0| * distance / (steps / 2)``."""
    params = [p.detach() for p in model.parameters()]
    theta_norm = torch.sqrt(sum((p**2).sum() for p in params))
    out = []
    for _ in range(k):
        d = [torch.randn(p.shape, generator=gen).to(p.device) for p in params]
        d = [t * math.sqrt(t.numel()) / (t.norm() + 1e-10) for t in d]
        d_norm = torch.sqrt(sum((t**2).sum() for t in d))
        out.append([t * (theta_norm * distance / (steps / 2)) / d_norm for t in d])
    return out


def sample_ours(objective, directions: list[list[torch.Tensor]], steps: int, batch_size) -> np.ndarray:
    """losstopo.landscape.sampling on the grid ``theta_0 + sum_i (j_i - steps // 2) * d_i`` (C order, as
    landscaper)."""
    dmat = np.stack([torch.cat([t.reshape(-1) for t in d]).cpu().numpy() for d in directions])  # (k, P)
    offsets = np.arange(steps, dtype=np.float64) - steps // 2
    axes = np.stack([offsets] * len(directions))
    result = sample(objective, dmat, axes, batch_size=batch_size, progress=False)
    return result.loss.reshape((steps,) * len(directions))


def sample_landscaper(model, x, y, directions, steps: int, distance: float, device: torch.device) -> np.ndarray:
    from landscaper.compute import compute_loss_landscape

    model.eval()

    def scalar_fn(m, data):
        return F.cross_entropy(m(data[0]), data[1]).item()

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):  # statistics and a tqdm bar
        loss, _ = compute_loss_landscape(
            model,
            (x, y),
            [list(d) for d in directions],
            scalar_fn,
            steps=steps,
            distance=distance,
            dim=2,
            device=device.type,
        )
    return loss


def run(
    rounds: int = 3, steps: int = 21, images: int = 128, device: str = "auto", batch_size="auto", depth: int = 20
) -> tuple[Comparison, dict]:
    """``ours`` and ``landscaper`` (where installed) in ``rounds`` interleaved rounds (``harness.compare``, not
    printed; threads as ``limit_threads`` set them), after a first call of each (warm-up) whose landscapes must
    agree (SystemExit otherwise); also the agreement, loss range, parameter count and device."""
    dev = resolve_device(device)
    torch.backends.cudnn.allow_tf32 = False  # full float32 convolutions on a GPU, for both sides
    distance = 0.05
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = ResNet(depth=depth).to(dev)
    x = torch.randn(images, 3, 32, 32, generator=gen).to(dev)
    y = torch.randint(0, 10, (images,), generator=gen).to(dev)
    calibrate_batch_norm(model, x)
    directions = landscaper_directions(model, 2, steps, distance, gen)
    objective = classification_objective(model, x, y, batch_size=images)

    def ours():
        out = sample_ours(objective, directions, steps, batch_size)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return out

    named = {"ours": ours}
    try:
        import landscaper.compute  # noqa: F401 -- imported here so that its import time is not timed
    except ImportError as exc:
        print(f"landscaper cannot be imported ({exc}; make bench installs it): that side is left out")
    else:
        named["landscaper"] = lambda: sample_landscaper(model, x, y, directions, steps, distance, dev)
    mine = ours()
    rel = float("nan")
    if "landscaper" in named:  # landscaper perturbs its maximum with noise "to avoid flat regions": compare elsewhere
        peer = named["landscaper"]()
        keep = peer != peer.max()
        rel = float(np.max(np.abs(mine - peer)[keep] / np.abs(peer)[keep]))
        if rel > 1e-4:
            raise SystemExit(f"landscapes disagree: max relative difference {rel:.2e}")
    result = compare("sample_resnet20", named, rounds=rounds, out=None)
    return result, {
        "agreement": rel,
        "loss_range": (float(mine.min()), float(mine.max())),
        "n_params": sum(p.numel() for p in model.parameters()),
        "device": str(dev),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 x 7 grid instead of 21 x 21")
    parser.add_argument("--steps", type=int, default=None, help="grid points per axis (default 21, --quick 7)")
    parser.add_argument("--images", type=int, default=128, help="CIFAR-shaped synthetic images in the loss")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", default="auto", help="grid points per vmap call (default: from memory)")
    add_arguments(parser, rounds=3)
    parser.add_argument("--name", default="sample_resnet20", help="BENCH line name")
    args = parser.parse_args()
    limit_threads(args.threads)
    steps = args.steps or (7 if args.quick else 21)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    result, info = run(args.rounds, steps, args.images, args.device, batch_size)
    lo, hi = info["loss_range"]
    print(
        f"grid {steps}x{steps}, {args.images} images, device {info['device']} ({args.threads} threads), "
        f"{info['n_params']} parameters; loss {lo:.4f}..{hi:.4f}; max rel. diff vs landscaper {info['agreement']:.2e}"
    )
    result.name = args.name
    print(result.line(), flush=True)
    peak_memory_line(torch.device(info["device"]))


if __name__ == "__main__":
    main()

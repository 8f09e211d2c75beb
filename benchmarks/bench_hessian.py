"""Top-4 Hessian eigenpairs of the default-sweep PINN: Lanczos (ours) against PyHessian's power iteration and
hessian-eigenthings' Lanczos.

All three compute Hessian-vector products of the same loss (the PINN family's objective: 4x50 tanh, 1000
collocation points, beta = 1, float64), at the same parameters (trained briefly with L-BFGS, so the point is a
realistic one, not the random initialisation). Each must deliver every eigenpair with a relative residual
||Hv - lambda v|| / |lambda| <= 1e-3, measured afterwards with an exact HVP. Each is given the loosest setting that
meets it: ours and PyHessian a tolerance (1e-3, 1e-4, ...; PyHessian's is on the change of the eigenvalue between
power steps), hessian-eigenthings 1.0.0a5 (``lanczos(op, k=4, which="LA")``, one Lanczos run without restarts, full
reorthogonalisation) a number of Lanczos steps (5, 6, 7, ...). The eigenvalues are checked equal (rtol 1e-3);
then the three are timed with ``harness.compare`` (same threads, interleaved rounds). HVPs are counted for all
three; ours includes the k products that measure its residuals.

    python benchmarks/bench_hessian.py [--threads N] [--rounds R] [--lbfgs-steps 200]

``--lbfgs-steps 0`` measures at the random initialisation instead.

Needs ``pip install --no-deps pyhessian==0.1`` and ``pip install hessian-eigenthings==1.0.0a5`` (the bench extra).
"""

from __future__ import annotations

import argparse
import importlib

import hessian_eigenthings
import numpy as np
import torch
from harness import add_arguments, compare, limit_threads
from torch import nn

from losstopo.curvature.hessian import HessianOperator, top_eigenpairs
from losstopo.sweep.families import defaults
from losstopo.training.families import pinn

K, TARGET = 4, 1e-3
TOLS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
STEPS = (*range(K + 1, 33), 48, 64, 96, 128)  # hessian-eigenthings' Lanczos steps


def trained_objective(lbfgs_steps: int):
    hp = {**defaults(pinn), "n_collocation": 1000, "lbfgs_steps": lbfgs_steps}  # 4x50 tanh, 1000 points, beta = 1
    torch.manual_seed(0)
    model = pinn.build_model(hp)
    result = pinn.train(model, hp, seed=0, device="cpu")
    return pinn.objective(model, hp, 0, "cpu", "float64"), result


def relative_residuals(op: HessianOperator, vals, vecs) -> np.ndarray:
    hv = np.stack([op.matvec(v) for v in vecs])
    return np.linalg.norm(hv - vals[:, None] * vecs, axis=1) / np.abs(vals)


def run_ours(objective, tol: float):
    op = HessianOperator(objective)
    result = top_eigenpairs(op, K, tol=tol)
    return op.n_hvp, result.eigenvalues, result.eigenvectors


class LossAsModel(nn.Module):
    """PyHessian wants model(inputs) and criterion(outputs, targets): the model returns the loss itself."""

    def __init__(self, objective):
        super().__init__()
        self.net, self.loss_fn = objective.model, objective.loss_fn

    def forward(self, _inputs):
        return self.loss_fn(dict(self.net.named_parameters()))


def run_pyhessian(objective, tol: float, max_iter: int):
    ph = importlib.import_module("pyhessian.hessian")  # the package re-exports the class under this name

    counter = {"n": 0}
    original = ph.hessian_vector_product

    def counted(grads, params, v):
        counter["n"] += 1
        return original(grads, params, v)

    ph.hessian_vector_product = counted
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its random start vectors must match the float64 parameters
    torch.manual_seed(0)
    try:
        h = ph.hessian(
            LossAsModel(objective), lambda out, _target: out, data=(torch.zeros(1), torch.zeros(1)), cuda=False
        )
        vals, vecs = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=K)
    finally:
        ph.hessian_vector_product = original
        torch.set_default_dtype(previous)
    flat = np.stack([torch.cat([t.reshape(-1) for t in v]).detach().numpy() for v in vecs])
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    return counter["n"], np.asarray(vals), flat


def run_eigenthings(objective, steps: int):
    """hessian-eigenthings' Lanczos: ``steps`` Lanczos vectors, top K by value; the loss is the 'model' output."""
    op = hessian_eigenthings.HessianOperator(LossAsModel(objective), [None], lambda model, _batch: model(None))
    counter = {"n": 0}
    matvec = op.matvec

    def counted(v):
        counter["n"] += 1
        return matvec(v)

    op.matvec = counted
    result = hessian_eigenthings.lanczos(op, k=K, max_iter=steps, which="LA", seed=0)
    vecs = result.eigenvectors.detach().numpy()
    return counter["n"], result.eigenvalues.detach().numpy(), vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def first_qualifying(name: str, run, settings, checker: HessianOperator):
    """The loosest setting whose output meets the residual target: (setting, HVPs, eigenvalues)."""
    for setting in settings:
        n_hvp, vals, vecs = run(setting)
        res = relative_residuals(checker, vals, vecs)
        print(
            f"INFO {name}: {setting:g} -> {n_hvp} HVPs, eigenvalues {np.round(np.sort(vals)[::-1], 6).tolist()}, "
            f"max residual {res.max():.2e}",
            flush=True,
        )
        if len(vals) == K and res.max() <= TARGET:
            return setting, n_hvp, np.sort(vals)
    raise SystemExit(f"{name} did not reach relative residual {TARGET} at {settings[-1]:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--lbfgs-steps", type=int, default=200, help="brief L-BFGS training before the analysis")
    parser.add_argument("--max-iter", type=int, default=20000, help="PyHessian power steps per eigenpair, at most")
    args = parser.parse_args()
    limit_threads(args.threads)
    objective, trained = trained_objective(args.lbfgs_steps)
    checker = HessianOperator(objective)
    print(
        f"INFO PINN 4x50 tanh, beta=1, 1000 collocation points, P={checker.size}, trained "
        f"{trained.metrics['iterations']} L-BFGS iterations (loss {trained.metrics['final_loss']:.3e}), "
        f"{torch.get_num_threads()} threads",
        flush=True,
    )
    methods = {
        "ours": (lambda tol: run_ours(objective, tol), TOLS),
        "pyhessian": (lambda tol: run_pyhessian(objective, tol, args.max_iter), TOLS),
        "eigenthings": (lambda steps: run_eigenthings(objective, steps), STEPS),
    }
    chosen, hvps, values = {}, {}, {}
    for name, (run, settings) in methods.items():
        chosen[name], hvps[name], values[name] = first_qualifying(name, run, settings, checker)
    for name in ("pyhessian", "eigenthings"):
        if not np.allclose(values[name], values["ours"], rtol=1e-3):
            raise SystemExit(f"{name} eigenvalues {values[name].tolist()} differ from ours {values['ours'].tolist()}")
    compare(
        "hessian_top4",
        {name: (lambda run=run, s=chosen[name]: run(s)) for name, (run, _) in methods.items()},
        rounds=args.rounds,
        notes={
            "hvps": ",".join(str(hvps[n]) for n in methods),
            "settings": ",".join(f"{chosen[n]:g}" for n in methods),
        },
    )


if __name__ == "__main__":
    main()

"""losstopo's Python API on a model nothing like the built-in families: a small MLP on scikit-learn's
breast-cancer data (30 tabular features, 2 classes; offline).

    python examples/api_quickstart.py [--out results/api_quickstart] [--resolution 21] [--epochs 60]

It trains two seeds for a few seconds, then: a 2-D random filter-normalised landscape with its topology and
topological profile (PNG and SVG), a landscape along the top Hessian eigenvectors, the Hessian metrics and
spectral density, the trajectory plane (PCA of the weights along training, Li et al. 2018) with the training
path drawn on it, and the loss on the straight line between the two seeds with its barrier. Every file goes
to ``--out``; ``summary.json`` holds the numbers printed at the end. Cells (``# %%``) run one by one in an
editor that knows them. docs/api.md documents every name used here.
"""

# %% Data and two trained models
import argparse
import json
from pathlib import Path

import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

import losstopo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="results/api_quickstart", help="folder for every output")
parser.add_argument("--resolution", type=int, default=21, help="grid points per axis of each landscape")
parser.add_argument("--epochs", type=int, default=60, help="full-batch Adam epochs per model")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

features, labels = load_breast_cancer(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(x_train)
X, X_test = (torch.tensor(scaler.transform(x), dtype=torch.float32) for x in (x_train, x_test))
y, y_test = torch.tensor(y_train), torch.tensor(y_test)


def train(seed: int) -> tuple[nn.Module, list[dict]]:
    """An MLP trained with full-batch Adam; returns it (in eval mode) and its state_dict before training
    and after every epoch (the trajectory)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(30, 32), nn.Tanh(), nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    states = [{k: v.clone() for k, v in model.state_dict().items()}]
    for _ in range(args.epochs):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    return model.eval(), states


model, trajectory = train(seed=0)
model_b, _ = train(seed=1)
with torch.no_grad():
    accuracy = float((model(X_test).argmax(1) == y_test).double().mean())

# %% The objective: the model's training loss as a pure function of its parameters
objective = losstopo.make_objective(model, nn.CrossEntropyLoss(), (X, y))

# %% A 2-D random landscape, its topology and its topological profile
random_plane = losstopo.compute_landscape(objective, "random", dim=2, resolution=args.resolution, span=1.0)
topology = random_plane.topology()  # merge tree (.tree) and persistence pairs (.pairs)
summary = random_plane.summary()  # the scalar metrics of the workflow's topology.json
random_plane.save_profile(out / "profile_random.png", out / "profile_random.svg", title="MLP, random plane")
random_plane.save(out / "landscape_random.npz")  # `losstopo topology` and `losstopo profile` read it
random_plane.plot(out / "heatmap_random.png", title="MLP, random plane")

# %% Along the top two Hessian eigenvectors, and the Hessian metrics
hessian_plane = losstopo.compute_landscape(objective, "hessian", dim=2, resolution=args.resolution, span=0.5)
hessian_plane.save_profile(out / "profile_hessian.png", title="MLP, top Hessian eigenvectors")
report, density = losstopo.analyze(objective, top_k=3, trace={"rel_tol": 0.05}, seed=0)  # trace to 5 %
(out / "hessian.json").write_text(json.dumps(report, indent=2, default=str))
losstopo.plot_density(density, out / "esd.png", title="MLP", eigenvalues=report["top"]["eigenvalues"])

# %% The trajectory plane: PCA of the weights along training, with the training path on the heatmap
trajectory_plane = losstopo.compute_landscape(
    objective, "trajectory", trajectory=trajectory, resolution=args.resolution, span=1.2
)
trajectory_plane.plot(out / "heatmap_trajectory.png", title="MLP, trajectory plane (Li et al. 2018)")
trajectory_plane.save(out / "landscape_trajectory.npz")

# %% The straight line from seed 0 to seed 1 (mode connectivity) and its barrier
line = losstopo.linear_path(objective, model_b, points=21)
(out / "line.json").write_text(json.dumps({"t": line.t.tolist(), "loss": line.loss.tolist()}))

# %% What came out
numbers = {
    "test_accuracy": accuracy,
    "n_params": sum(p.numel() for p in model.parameters()),
    "random_plane": {key: summary[key] for key in ("n_minima", "n_saddles", "max_persistence", "loss_center")},
    "hessian_plane_minima": hessian_plane.summary()["n_minima"],
    "hessian_top_eigenvalues": report["top"]["eigenvalues"],
    "hessian_trace": report["trace"]["value"],
    "trajectory_explained_variance": trajectory_plane.metadata["directions"]["explained_variance_ratio"],
    "barrier": line.barrier,
    "persistence_pairs": int(topology.pairs.birth.size),
}
(out / "summary.json").write_text(json.dumps(numbers, indent=2))
print(json.dumps(numbers, indent=2))

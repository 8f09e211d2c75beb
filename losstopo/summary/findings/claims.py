"""The two papers' claims as data, per model family: what findings.md checks, and on which columns.

Paper 1: Geniesse et al. 2024, "Visualizing loss functions as topological landscape profiles" (use cases: the
PINN convection sweep and a UNet). Paper 2: Xie et al. 2024, "Evaluating loss landscapes from a topology
perspective" (ResNet-20 with and without residual connections; the PINN sweep). ``../shared/papers.md``
summarises both. Each ``Claim`` is tested for the family the paper made it for, in the direction the paper
states for that family, and never for another family; a family the papers do not cover gets ``GENERIC``, the
same checks on its own declared headline metric and direction. docs/findings.md lists the table.

A claim names a base metric; the columns it is checked on are its *variants* (``variants``): the persistence
convention (TTK's, which the papers used, or ours: docs/topology.md), simplification, and scale (raw loss,
log10 loss, relative to the range). Standard library only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PERFORMANCE = "performance"  # Claim.against: the family's headline performance metric, in its declared direction
TREND, SPREAD = "trend", "spread"  # Claim.test


@dataclass(frozen=True)
class Claim:
    """One statement of a paper about one family.

    ``sign`` is +1 when ``metric`` rises with ``against`` and -1 when it falls; for ``against = PERFORMANCE``
    it is the direction along *better* performance (higher or lower values of the headline metric, as the
    family declares). ``test`` is ``TREND`` (rank correlation over grid points: correlations.csv for
    performance, trends.csv for a hyperparameter) or ``SPREAD`` (the across-seed s.d. of ``metric`` is highest in
    the transition zone of the headline metric along the hyperparameter ``against``: transition.csv).
    """

    paper: str  # "paper 1", "paper 2" or "generic"
    family: str  # the family the statement is about
    statement: str  # as findings.md words it
    metric: str  # base column of runs.csv
    against: str  # PERFORMANCE or a swept hyperparameter
    sign: int = +1
    test: str = TREND


CLAIMS: tuple[Claim, ...] = (
    # Paper 1: better-performing models have simpler topology (fewer minima and saddles: fewer, wider basins);
    # its use cases are the PINN and the UNet. The shape varies most across seeds near the transition from low
    # to high error, which its PINN sweep shows along beta.
    Claim("paper 1", "pinn", "better models have fewer minima", "n_minima", PERFORMANCE, -1),
    Claim("paper 1", "pinn", "better models have fewer saddles", "n_saddles", PERFORMANCE, -1),
    Claim("paper 1", "unet", "better models have fewer minima", "n_minima", PERFORMANCE, -1),
    Claim("paper 1", "unet", "better models have fewer saddles", "n_saddles", PERFORMANCE, -1),
    Claim("paper 1", "pinn", "minima vary most across seeds near the transition", "n_minima", "beta", test=SPREAD),
    Claim("paper 1", "pinn", "saddles vary most across seeds near the transition", "n_saddles", "beta", test=SPREAD),
    # Paper 2, PINN: saddles, average persistence, error, top eigenvalue and trace all rise with beta.
    Claim("paper 2", "pinn", "saddles rise with beta", "n_saddles", "beta"),
    Claim("paper 2", "pinn", "average persistence rises with beta", "avg_persistence", "beta"),
    Claim("paper 2", "pinn", "the error rises with beta", "rel_l2_error", "beta"),
    Claim("paper 2", "pinn", "the top Hessian eigenvalue rises with beta", "hessian_top_eigenvalue", "beta"),
    Claim("paper 2", "pinn", "the Hessian trace rises with beta", "hessian_trace", "beta"),
    # Paper 2, ResNet: worse models have more saddles and lower average persistence.
    Claim("paper 2", "resnet", "worse models have more saddles", "n_saddles", PERFORMANCE, -1),
    Claim("paper 2", "resnet", "worse models have lower average persistence", "avg_persistence", PERFORMANCE, +1),
)

# A family the papers do not cover: topology against its own headline metric, in its declared direction.
GENERIC: tuple[Claim, ...] = (
    Claim("generic", "", "better models have fewer minima", "n_minima", PERFORMANCE, -1),
    Claim("generic", "", "better models have fewer saddles", "n_saddles", PERFORMANCE, -1),
)


def claims_for(family: str) -> list[Claim]:
    """The claims the papers make about ``family``, in table order; ``GENERIC`` (for this family) if none."""
    published = [c for c in CLAIMS if c.family == family]
    return published or [dataclasses.replace(c, family=family) for c in GENERIC]


# ---------------------------------------------------------------------------------------------------------
# Variants: which columns a claim's metric is checked on

PAPERS, OURS, BOTH = "papers'", "ours", "both"  # persistence conventions; BOTH: the metric has no convention
PERSISTENCE_BASES = ("total_persistence", "avg_persistence", "max_persistence")
TTK = "_ttk"  # topology.json's suffix of TTK's convention (docs/topology.md)
SCALES = {"": "", "_log": "log10 loss", "_rel": "relative to the range"}
HEADLINE = ((PAPERS, False), (OURS, False), (OURS, True))  # the findings table's columns: (convention, simplified)


@dataclass(frozen=True)
class Variant:
    """One column a claim is checked on: its convention, whether simplified, and its scale suffix."""

    column: str
    convention: str  # PAPERS, OURS or BOTH
    simplified: bool = False
    scale: str = ""  # "", "_log" or "_rel"

    @property
    def label(self) -> str:
        """e.g. ``ours, simplified, log10 loss``; ``as measured`` for a metric without variants."""
        parts = [] if self.convention == BOTH else [self.convention]
        parts += ["simplified"] * self.simplified + [SCALES[self.scale]] * bool(self.scale)
        return ", ".join(parts) or "as measured"

    def matches(self, convention: str, simplified: bool) -> bool:
        """Whether this is the raw-scale column of a headline cell (``convention``, ``simplified``)."""
        return not self.scale and self.simplified == simplified and self.convention in (convention, BOTH)


def variants(metric: str, columns) -> list[Variant]:
    """The variants of base ``metric`` that are columns (the raw ones always): TTK's and our convention for
    persistence, each raw, simplified and in the scale-free forms; raw and simplified for the counts (which
    TTK counts as we do); the metric alone for anything else (performance, Hessian)."""
    columns = set(columns)
    if metric in PERSISTENCE_BASES:
        conventions = ((PAPERS, metric + TTK), (OURS, metric))
    elif metric.startswith("n_"):
        conventions = ((BOTH, metric),)
    else:
        return [Variant(metric, BOTH)]
    out = []
    for convention, stem in conventions:
        for simplified in (False, True):
            for scale in SCALES:
                column = stem + "_simplified" * simplified + scale
                if column in columns or column == stem:  # the raw column always: "not measured" if absent
                    out.append(Variant(column, convention, simplified, scale))
    return out


def headline(variant_list: list[Variant], convention: str, simplified: bool) -> Variant | None:
    """The variant shown in a headline column, or None (a metric without a simplified form)."""
    return next((v for v in variant_list if v.matches(convention, simplified)), None)

# Stage 6: results/explorer.html, one self-contained page that browses the whole sweep (linked views of
# every run and checkpoint, and mode connectivity). Written last, from everything the sweep produced.
# Needs common.smk (R, RUNS, UNITS, aggregate_inputs), profile.smk (PROFILE_TARGETS) and connectivity.smk
# (CONNECTIVITY_TARGETS, CONNECTIVITY_PAIRS); add EXPLORER_TARGETS to `rule all`.
EXPLORER_TARGETS = [f"{R}/explorer.html"]


rule explorer:
    input:
        aggregate_inputs,
        tables=[f"{R}/tables/runs.csv", f"{R}/tables/checkpoints.csv"] + CONNECTIVITY_TARGETS,
        profiles=[f for f in PROFILE_TARGETS if f.endswith("profile.svg")],
        pairs=CONNECTIVITY_PAIRS,
        densities=[f"{R}/runs/{unit}/hessian/density.npz" for unit, run in UNITS.items() if run.hessian["enabled"]],
    output:
        f"{R}/explorer.html",
    params:
        results=lambda w, output: str(Path(output[0]).parent),
    log:
        f"{R}/logs/explorer.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo explorer {params.results:q} --out {output:q} > {log:q} 2>&1"

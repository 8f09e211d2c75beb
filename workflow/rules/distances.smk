# Stage 5b: shape distances between the runs' persistence diagrams (bottleneck, Wasserstein): between the
# seeds of each setting and between neighbouring settings of the sweep -> results/tables/distances.csv.
# Needs common.smk (R, run_dirs, the shell prefix) and aggregate.smk (runs.csv).

DISTANCES = CONFIG["distances"]  # defaults filled in by the schema
DISTANCES_TARGETS = [f"{R}/tables/distances.csv"]  # add to `rule all`


rule distances:
    input:
        runs=f"{R}/tables/runs.csv",
    output:
        f"{R}/tables/distances.csv",
    params:
        essential=DISTANCES["essential"],
    log:
        f"{R}/logs/distances.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo distances --runs {input.runs:q} --essential {params.essential} --out {output:q} > {log:q} 2>&1"

# Stage 5b: shape distances between the runs' persistence diagrams (bottleneck, Wasserstein): between the
# seeds of each setting and between neighbouring settings of the sweep -> results/tables/distances.csv.


rule distances:
    input:
        runs=f"{R}/tables/runs.csv",
    output:
        f"{R}/tables/distances.csv",
    params:
        essential=CONFIG["distances"]["essential"],
    log:
        f"{R}/logs/distances.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo distances --runs {input.runs:q} --essential {params.essential} --out {output:q} > {log:q} 2>&1"

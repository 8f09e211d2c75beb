# Stage 5: one table over all runs (runs.csv; checkpoints.csv; spans.csv: each run at every span sampled),
# and the figure set.


rule aggregate:
    input:
        aggregate_inputs,
        args=f"{R}/logs/args/aggregate.args",  # --run-dirs ... --checkpoint-dirs ... (arguments.smk)
    output:
        runs=f"{R}/tables/runs.csv",
        checkpoints=f"{R}/tables/checkpoints.csv",
        spans=f"{R}/tables/spans.csv",
    log:
        f"{R}/logs/aggregate.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo aggregate --args-file {input.args:q} --out {output.runs:q}"
        " --checkpoints-out {output.checkpoints:q} --spans-out {output.spans:q} > {log:q} 2>&1"


rule figures:
    input:
        runs=f"{R}/tables/runs.csv",
        checkpoints=f"{R}/tables/checkpoints.csv",
    output:
        reported(figure_targets()),
    params:
        heatmaps=CONFIG["figures"]["heatmaps"],
        out_dir=subpath(output[0], ancestor=2),  # figures sit in family folders: <results>/figures/<family>/
    log:
        f"{R}/logs/figures.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo figures --runs {input.runs:q} --checkpoints {input.checkpoints:q} --out-dir {params.out_dir:q}"
        " --heatmaps {params.heatmaps} > {log:q} 2>&1"

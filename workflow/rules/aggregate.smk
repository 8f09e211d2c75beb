# Stage 5: one table over all runs, and the figure set.


rule aggregate:
    input:
        aggregate_inputs,
    output:
        runs=f"{R}/tables/runs.csv",
        checkpoints=f"{R}/tables/checkpoints.csv",
    params:
        run_dirs=" ".join(shlex.quote(d) for d in run_dirs()),
        checkpoint_dirs=" ".join(shlex.quote(d) for d in checkpoint_dirs()),
    log:
        f"{R}/logs/aggregate.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo aggregate --run-dirs {params.run_dirs} --out {output.runs:q}"
        " --checkpoint-dirs {params.checkpoint_dirs} --checkpoints-out {output.checkpoints:q} > {log:q} 2>&1"


rule figures:
    input:
        runs=f"{R}/tables/runs.csv",
        checkpoints=f"{R}/tables/checkpoints.csv",
        landscapes=[f"{d}/landscape.npz" for d in run_dirs()],
        densities=[f"{R}/runs/{run_id}/hessian/density.npz" for run_id, run in RUNS.items() if run.hessian["enabled"]],
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

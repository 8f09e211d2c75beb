# Stage 5c: mode connectivity (global scale, as in LossLens): for every setting of the sweep with several
# seeds, the loss on the straight line between each pair of seed models, and results/tables/connectivity.csv.
# One job per seed b (all but the setting's lowest): the paths from every lower seed to b, so a new
# (highest) seed adds one job with only its own pairs, and a setting of S seeds has S - 1 jobs, not
# S (S - 1) / 2.


rule connectivity:
    input:
        connectivity_inputs,
    output:
        f"{R}/connectivity/{{setting}}/seed~{{b}}.json",
    params:
        run_b=job_function(lambda w: connected_runs(w)[int(w.b)]),
        runs_a=connectivity_runs_a,
        points=CONFIG["connectivity"]["points"],
        precision=job_function(lambda w: RUNS[SETTINGS[w.setting][int(w.b)]].landscape["precision"]),
        device=CONFIG["device"],
    wildcard_constraints:
        setting=id_pattern(FAMILIES, seed=False),
        b=r"\d+",
    log:
        f"{R}/logs/connectivity/{{setting}}/seed~{{b}}.log",
    benchmark:
        f"{R}/logs/connectivity/{{setting}}/seed~{{b}}.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo connectivity --run-b {params.run_b:q} --runs-a {params.runs_a} --points {params.points}"
        " --precision {params.precision} --device {params.device} --out {output:q} > {log:q} 2>&1"


rule connectivity_table:
    input:
        paths=CONNECTIVITY_FILES,
        args=f"{R}/logs/args/connectivity.args",  # --path-files ... (arguments.smk)
        runs=f"{R}/tables/runs.csv",  # the run.json of every run (aggregate_inputs)
    output:
        f"{R}/tables/connectivity.csv",
    log:
        f"{R}/logs/connectivity_table.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo connectivity-table --args-file {input.args:q} --out {output:q} > {log:q} 2>&1"

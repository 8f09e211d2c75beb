# Stage 5c: mode connectivity (global scale, as in LossLens): for every setting of the sweep with several
# seeds, the loss on the straight line between each pair of seed models (one job per pair, so a new seed
# adds only its own pairs), and results/tables/connectivity.csv. Needs common.smk (R, RUNS, SETTINGS,
# id_pattern, pair_run_dir, pair_file, GPU_PER_JOB) and arguments.smk (ARGUMENT_LISTS); add CONNECTIVITY_TARGETS to
# `rule all`.
CONNECTIVITY = CONFIG["connectivity"]  # defaults filled in by the schema
CONNECTIVITY_PAIRS = [f"{R}/connectivity/{setting}/seed~{a}_seed~{b}.json"
                      for setting, seeds in SETTINGS.items() for a in sorted(seeds) for b in sorted(seeds) if a < b
                      ] if CONNECTIVITY["enabled"] else []
CONNECTIVITY_TARGETS = [f"{R}/tables/connectivity.csv"] if CONNECTIVITY["enabled"] else []
ARGUMENT_LISTS["connectivity"] = ["--pairs", *CONNECTIVITY_PAIRS]


rule connectivity_pair:
    input:
        model_a=pair_file("a", "model.pt"),
        model_b=pair_file("b", "model.pt"),
        train_a=pair_file("a", "train.json"),
        train_b=pair_file("b", "train.json"),
    output:
        f"{R}/connectivity/{{setting}}/seed~{{a}}_seed~{{b}}.json",
    params:
        run_a=pair_run_dir("a"),
        run_b=pair_run_dir("b"),
        points=CONNECTIVITY["points"],
        precision=job_function(lambda w: RUNS[SETTINGS[w.setting][int(w.a)]].landscape["precision"]),
        device=CONFIG["device"],
    wildcard_constraints:
        setting=id_pattern(FAMILY_SHARDS, seed=False),
        a=r"\d+",
        b=r"\d+",
    log:
        f"{R}/logs/connectivity/{{setting}}/seed~{{a}}_seed~{{b}}.log",
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo connectivity --run-a {params.run_a:q} --run-b {params.run_b:q} --points {params.points}"
        " --precision {params.precision} --device {params.device} --out {output:q} > {log:q} 2>&1"


rule connectivity_table:
    input:
        pairs=CONNECTIVITY_PAIRS,
        args=f"{R}/logs/args/connectivity.args",  # --pairs ... (arguments.smk)
        run_info=[f"{R}/runs/{run_id}/run.json" for run_id in RUNS],
    output:
        f"{R}/tables/connectivity.csv",
    log:
        f"{R}/logs/connectivity_table.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo connectivity-table @{input.args:q} --out {output:q} > {log:q} 2>&1"

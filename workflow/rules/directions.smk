# Stage 2: directions in parameter space that span the landscape's subspace.


rule directions:
    input:
        model=f"{UNIT_DIR}/model.pt",  # and its train.json, written by the same job (docs/cluster.md: DAG)
        trajectory=trajectory_input,
    output:
        f"{UNIT_DIR}/directions.npz",
    params:
        landscape=direction_settings,
        device=CONFIG["device"],
        run_dir=subpath(input.model, parent=True),
        trajectory=trajectory_option,
    log:
        f"{UNIT_LOG_DIR}/directions.log",
    benchmark:
        f"{UNIT_LOG_DIR}/directions.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=direction_gpus,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo directions --run-dir {params.run_dir:q} --landscape {params.landscape:q}"
        " --device {params.device} {params.trajectory} --out {output:q} > {log:q} 2>&1"

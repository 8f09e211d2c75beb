# Stage 2b: Hessian metrics of each trained model (top eigenpairs, trace, spectral density). With Hessian
# landscape directions the top eigenpairs come from directions.npz (computed once, same tolerance).


rule hessian:
    input:
        model=f"{UNIT_DIR}/model.pt",  # and its train.json, written by the same job (docs/cluster.md: DAG)
        directions=hessian_directions_input,  # Hessian directions: their top eigenpairs are this stage's
    output:
        summary=f"{UNIT_DIR}/hessian/hessian.json",
        density=f"{UNIT_DIR}/hessian/density.npz",
        plot=f"{UNIT_DIR}/hessian/esd.png",
    params:
        settings=hessian_settings,
        device=CONFIG["device"],
        run_dir=subpath(input.model, parent=True),
        directions=hessian_directions_option,
    log:
        f"{UNIT_LOG_DIR}/hessian.log",
    benchmark:
        f"{UNIT_LOG_DIR}/hessian.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(MEM_MB),
        runtime=per_attempt(120),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo hessian --run-dir {params.run_dir:q} --settings {params.settings:q} --device {params.device}"
        " --out-json {output.summary:q} --out-density {output.density:q} --out-plot {output.plot:q}"
        " {params.directions} > {log:q} 2>&1"

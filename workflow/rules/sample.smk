# Stage 3: the loss on a k-dimensional grid around each trained model (batched, GPU when present).


rule sample:
    input:
        model=f"{UNIT_DIR}/model.pt",
        info=f"{UNIT_DIR}/train.json",
        directions=f"{UNIT_DIR}/directions.npz",
    output:
        f"{UNIT_DIR}/landscape.npz",
    params:
        landscape=lambda w: as_json(run_of(w).landscape),
        device=CONFIG["device"],
        run_dir=lambda w, input: str(Path(input.model).parent),
    log:
        f"{UNIT_LOG_DIR}/sample.log",
    benchmark:
        f"{UNIT_LOG_DIR}/sample.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(240),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} sample --run-dir {params.run_dir:q} --directions {input.directions:q}"
        " --landscape {params.landscape:q} --device {params.device} --out {output:q} > {log:q} 2>&1"

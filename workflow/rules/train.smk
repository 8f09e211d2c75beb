# Stage 1: train one model per run of the sweep (and keep the models of the requested epochs); the job
# also writes the run's run.json (its id, family, seed, swept values and hyperparameters).


rule train:
    output:
        model=f"{RUN_DIR}/model.pt",
        info=f"{RUN_DIR}/train.json",
        history=f"{RUN_DIR}/history.csv",
        checkpoints=f"{RUN_DIR}/checkpoints.pt",
        run_info=f"{RUN_DIR}/run.json",
    params:
        run=train_args,
        device=CONFIG["device"],
        out_dir=subpath(output.model, parent=True),
    log:
        f"{LOG_DIR}/train.log",
    benchmark:
        f"{LOG_DIR}/train.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo train {params.run} --device {params.device} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule extract_checkpoint:
    input:
        checkpoints=f"{RUN_DIR}/checkpoints.pt",
        info=f"{RUN_DIR}/train.json",
        model=f"{RUN_DIR}/model.pt",
    output:
        model=f"{RUN_DIR}/epoch~{{epoch}}/model.pt",
        info=f"{RUN_DIR}/epoch~{{epoch}}/train.json",
    params:
        epoch=checkpoint_epoch,
        run_dir=subpath(input.checkpoints, parent=True),
        out_dir=subpath(output.model, parent=True),
    log:
        f"{LOG_DIR}/epoch~{{epoch}}/checkpoint.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo checkpoint --run-dir {params.run_dir:q} --epoch {params.epoch}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"

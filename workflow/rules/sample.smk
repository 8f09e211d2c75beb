# Stage 3: the loss on a k-dimensional grid around each analysed model (batched, GPU when present).
# A grid with more than landscape.shard_points points is split into shard jobs (scatter), which run in
# parallel on as many GPUs or nodes as are free, and joined into the same landscape.npz (gather).


rule sample:
    input:
        model=f"{UNIT_DIR}/model.pt",  # and its train.json, written by the same job (docs/cluster.md: DAG)
        directions=f"{UNIT_DIR}/directions.npz",
    output:
        f"{UNIT_DIR}/landscape.npz",
    wildcard_constraints:
        unit=id_pattern(fam for fam, count in FAMILY_SHARDS.items() if count == 1),
    params:
        landscape=landscape_settings,
        device=CONFIG["device"],
        run_dir=subpath(input.model, parent=True),
    log:
        f"{UNIT_LOG_DIR}/sample.log",
    benchmark:
        f"{UNIT_LOG_DIR}/sample.benchmark.tsv"
    threads: 1
    resources:
        **sample_resources(MEM_MB, 240),
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo sample --run-dir {params.run_dir:q} --directions {input.directions:q}"
        " --landscape {params.landscape:q} --device {params.device} --out {output:q} > {log:q} 2>&1"


rule sample_shard:
    input:
        model=f"{UNIT_DIR}/model.pt",  # and its train.json, written by the same job (docs/cluster.md: DAG)
        directions=f"{UNIT_DIR}/directions.npz",
    output:
        temp(f"{UNIT_DIR}/shards/shard~{{shard}}.npz"),
    wildcard_constraints:
        shard=r"\d+",
    params:
        landscape=landscape_settings,
        device=CONFIG["device"],
        run_dir=subpath(input.model, parent=True),
    log:
        f"{UNIT_LOG_DIR}/sample_shard~{{shard}}.log",
    benchmark:
        f"{UNIT_LOG_DIR}/sample_shard~{{shard}}.benchmark.tsv"
    threads: 1
    resources:
        **sample_resources(MEM_MB, 240),
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo sample --run-dir {params.run_dir:q} --directions {input.directions:q} --shard {wildcards.shard}"
        " --landscape {params.landscape:q} --device {params.device} --out {output:q} > {log:q} 2>&1"


rule gather_landscape:
    input:
        shard_files,
    output:
        f"{UNIT_DIR}/landscape.npz",
    wildcard_constraints:
        unit=id_pattern(fam for fam, count in FAMILY_SHARDS.items() if count > 1),
    log:
        f"{UNIT_LOG_DIR}/gather_landscape.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo gather {input:q} --out {output:q} > {log:q} 2>&1"

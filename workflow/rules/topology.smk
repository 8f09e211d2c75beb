# Stage 4: merge tree, persistence diagram and summary metrics of each landscape.
TOPOLOGY = CONFIG["topology"]  # one block for every run; defaults filled in by the schema
TOPOLOGY_OPTIONS = (
    f"--graph {TOPOLOGY['graph']} --threshold {TOPOLOGY['threshold']} --backend {TOPOLOGY['backend']}"
    + ("" if TOPOLOGY["knn"] is None else f" --knn {TOPOLOGY['knn']}")
)


rule topology:
    group:
        "unit_light"  # with the topology (profile) of the same unit: one cluster job (profiles/slurm)
    input:
        f"{UNIT_DIR}/landscape.npz",
    output:
        summary=f"{UNIT_DIR}/topology/topology.json",
        diagram=f"{UNIT_DIR}/topology/persistence.csv",
    params:
        options=TOPOLOGY_OPTIONS,
        out_dir=subpath(output.summary, parent=True),
    log:
        f"{UNIT_LOG_DIR}/topology.log",
    benchmark:
        f"{UNIT_LOG_DIR}/topology.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    conda:
        "../../envs/ttk.yaml" if TOPOLOGY["backend"] == "ttk" else "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo topology {input:q} {params.options} --out-dir {params.out_dir:q} > {log:q} 2>&1"

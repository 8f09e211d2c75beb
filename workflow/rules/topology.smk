# Stage 4: merge tree, persistence diagram and summary metrics of each landscape.


rule topology:
    input:
        f"{UNIT_DIR}/landscape.npz",
    output:
        summary=f"{UNIT_DIR}/topology/topology.json",
        diagram=f"{UNIT_DIR}/topology/persistence.csv",
    params:
        graph=lambda w: run_of(w).topology["graph"],
        threshold=lambda w: run_of(w).topology["threshold"],
        backend=lambda w: run_of(w).topology["backend"],
        knn=lambda w: "" if run_of(w).topology["knn"] is None else f"--knn {run_of(w).topology['knn']}",
        out_dir=lambda w, output: str(Path(output.summary).parent),
    log:
        f"{UNIT_LOG_DIR}/topology.log",
    benchmark:
        f"{UNIT_LOG_DIR}/topology.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(60),
    conda:
        lambda w: "../../envs/ttk.yaml" if run_of(w).topology["backend"] == "ttk" else "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} topology {input:q} --graph {params.graph} --threshold {params.threshold}"
        " --backend {params.backend} {params.knn}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"

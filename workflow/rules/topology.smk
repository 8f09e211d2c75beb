# Stage 4: per landscape, the merge tree, persistence diagram and summary metrics, and the topological
# landscape profile drawn from them (paper 1). One job per analysed model: the profile takes a second,
# and a job of its own per unit made the DAG of large sweeps a sixth larger (docs/cluster.md).


rule topology:
    group:
        "unit_light"  # profiles/slurm packs several units' topology jobs into one cluster job
    input:
        f"{UNIT_DIR}/landscape.npz",
    output:
        summary=f"{UNIT_DIR}/topology/topology.json",
        diagram=f"{UNIT_DIR}/topology/persistence.csv",
        profile_svg=f"{UNIT_DIR}/profile.svg",
        profile_png=report(f"{UNIT_DIR}/profile.png", caption="../report/profile.rst", category="Landscape profiles",
                           subcategory="One per analysed model", labels={"model": "{unit}"}),
    params:
        options=TOPOLOGY_OPTIONS,
        profile=PROFILE_OPTIONS,
        out_dir=subpath(output.summary, parent=True),
    log:
        f"{UNIT_LOG_DIR}/topology.log",
    benchmark:
        f"{UNIT_LOG_DIR}/topology.benchmark.tsv"
    threads: 1
    resources:
        mem_mb=per_attempt(MEM_MB),
        runtime=per_attempt(60),
    conda:
        "../../envs/ttk.yaml" if CONFIG["topology"]["backend"] == "ttk" else "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo topology {input:q} {params.options} --out-dir {params.out_dir:q} > {log:q} 2>&1"
        " && python -m losstopo profile --topology-dir {params.out_dir:q} --landscape {input:q}"
        " --out-svg {output.profile_svg:q} --out-png {output.profile_png:q} {params.profile}"
        " --title {wildcards.unit:q} >> {log:q} 2>&1"

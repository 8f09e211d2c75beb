# Stage 4: per landscape, the merge tree, persistence diagram and summary metrics (and those of each extra
# span sampled), and the topological landscape profile drawn from them (paper 1). One job and one process
# per analysed model: a job of its own per profile made the DAG of large sweeps a sixth larger
# (docs/cluster.md), and a process of its own cost a second interpreter, its imports and a re-read of the files.


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
        profile=profile_options("profile-"),
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
        "python -m losstopo topology {input:q} {params.options} --out-dir {params.out_dir:q}"
        " --profile-svg {output.profile_svg:q} --profile-png {output.profile_png:q} {params.profile}"
        " --profile-title {wildcards.unit:q} > {log:q} 2>&1"

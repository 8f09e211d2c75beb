# Stage 6: statistics of topology against performance, their figures, and results/findings.md.


rule findings_tables:
    input:
        runs=f"{R}/tables/runs.csv",
    output:
        **{
            name: report(
                f"{R}/tables/{name}.csv",
                caption=f"../report/{TABLE_CAPTIONS[name]}.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in FINDINGS_TABLES
        },
    params:
        out_dir=subpath(output[0], parent=True),
        seed=CONFIG["findings"]["seed"],
        bootstrap=CONFIG["findings"]["bootstrap"],
        permutations=CONFIG["findings"]["permutations"],
    log:
        f"{R}/logs/findings_tables.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo findings --runs {input.runs:q} --out-dir {params.out_dir:q} --seed {params.seed}"
        " --bootstrap {params.bootstrap} --permutations {params.permutations} > {log:q} 2>&1"


rule invariance:
    input:
        runs=f"{R}/tables/runs.csv",  # built from every run's files (aggregate_inputs)
        args=f"{R}/logs/args/invariance.args",  # --run-dirs ... (arguments.smk)
    output:
        **{
            name: report(
                f"{R}/tables/{name}.csv",
                caption=f"../report/{TABLE_CAPTIONS[name]}.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in INVARIANCE_TABLES
        },
    params:
        tolerance=CONFIG["findings"]["invariance_tolerance"],
        max_share=CONFIG["findings"]["invariance_share"],
    log:
        f"{R}/logs/invariance.log",
    resources:
        mem_mb=per_attempt(MEM_MB),  # recomputes every landscape's topology
        runtime=per_attempt(60),
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo invariance --args-file {input.args:q} --out {output.invariance:q}"
        " --summary-out {output.invariance_summary:q} --tolerance {params.tolerance}"
        " --max-share {params.max_share} > {log:q} 2>&1"


rule findings_figures:
    input:
        runs=f"{R}/tables/runs.csv",
        tables=[f"{R}/tables/{name}.csv" for name in FINDINGS_TABLES],
    output:
        reported(findings_figure_targets()),
    params:
        tables_dir=subpath(input.runs, parent=True),  # runs.csv sits with the tables
        out_dir=subpath(output[0], ancestor=2),  # figures sit in family folders: <results>/figures/<family>/
    log:
        f"{R}/logs/findings_figures.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo findings-figures --runs {input.runs:q} --tables-dir {params.tables_dir:q}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule findings_report:
    input:
        runs=f"{R}/tables/runs.csv",
        spans=f"{R}/tables/spans.csv",
        tables=[f"{R}/tables/{name}.csv" for name in FINDINGS_TABLES + INVARIANCE_TABLES],
        figures=report_figures(),
    output:
        report(f"{R}/findings.md", caption="../report/findings.rst", category="Findings"),
    params:
        tables_dir=subpath(input.runs, parent=True),  # runs.csv sits with the tables
        alpha=CONFIG["findings"]["alpha"],
        seed=CONFIG["findings"]["seed"],
        bootstrap=CONFIG["findings"]["bootstrap"],
        permutations=CONFIG["findings"]["permutations"],
    log:
        f"{R}/logs/findings_report.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo findings-report --runs {input.runs:q} --tables-dir {params.tables_dir:q} --out {output:q}"
        " --spans {input.spans:q} --alpha {params.alpha} --seed {params.seed} --bootstrap {params.bootstrap}"
        " --permutations {params.permutations} --figures {input.figures:q} > {log:q} 2>&1"

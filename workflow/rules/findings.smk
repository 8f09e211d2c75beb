# Stage 6: statistics of topology against performance, their figures, and results/findings.md.
# Needs common.smk (R, LOSSTOPO, TABLES, findings_figure_targets, report_figures) and aggregate.smk.

FINDINGS = CONFIG["findings"]  # defaults filled in by the schema
TABLE_CAPTIONS = {"correlations": "correlations", "trends": "trends", "variability": "variability_table",
                  "transition": "transition", "invariance": "invariance", "invariance_summary": "invariance"}


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
            for name in TABLES
        },
    params:
        out_dir=f"{R}/tables",
        seed=FINDINGS["seed"],
        bootstrap=FINDINGS["bootstrap"],
        permutations=FINDINGS["permutations"],
    log:
        f"{R}/logs/findings_tables.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} findings --runs {input.runs:q} --out-dir {params.out_dir:q} --seed {params.seed}"
        " --bootstrap {params.bootstrap} --permutations {params.permutations} > {log:q} 2>&1"


rule invariance:
    input:
        [f"{d}/{name}" for d in run_dirs() for name in ("run.json", "landscape.npz", "topology/topology.json")],
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
        run_dirs=" ".join(shlex.quote(d) for d in run_dirs()),
        tolerance=FINDINGS["invariance_tolerance"],
    log:
        f"{R}/logs/invariance.log",
    resources:
        runtime=per_attempt(60),
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} invariance --run-dirs {params.run_dirs} --out {output.invariance:q}"
        " --summary-out {output.invariance_summary:q} --tolerance {params.tolerance} > {log:q} 2>&1"


rule findings_figures:
    input:
        runs=f"{R}/tables/runs.csv",
        tables=[f"{R}/tables/{name}.csv" for name in TABLES],
    output:
        reported(findings_figure_targets()),
    params:
        tables_dir=f"{R}/tables",
        out_dir=f"{R}/figures",
    log:
        f"{R}/logs/findings_figures.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} findings-figures --runs {input.runs:q} --tables-dir {params.tables_dir:q}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule findings_report:
    input:
        runs=f"{R}/tables/runs.csv",
        tables=[f"{R}/tables/{name}.csv" for name in TABLES + INVARIANCE_TABLES],
        figures=report_figures(),
    output:
        report(f"{R}/findings.md", caption="../report/findings.rst", category="Findings"),
    params:
        tables_dir=f"{R}/tables",
        alpha=FINDINGS["alpha"],
        min_runs=FINDINGS["min_runs"],
    log:
        f"{R}/logs/findings_report.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} findings-report --runs {input.runs:q} --tables-dir {params.tables_dir:q} --out {output:q}"
        " --alpha {params.alpha} --min-runs {params.min_runs} --figures {input.figures:q} > {log:q} 2>&1"

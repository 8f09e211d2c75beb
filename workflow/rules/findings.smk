# Stage 6: statistics of topology against performance, their figures, and results/findings.md.
# Needs common.smk (R, RUNS, LOSSTOPO, families, figure_targets) and aggregate.smk (runs.csv).
from losstopo.findings import TABLES
from losstopo.findings_figures import findings_figure_files, reported

FINDINGS = CONFIG["findings"]  # defaults filled in by the schema
TABLE_CAPTIONS = {"correlations": "correlations", "trends": "trends", "variability": "variability_table",
                  "transition": "transition"}


def findings_figure_targets():
    return [f"{R}/figures/{name}" for name in findings_figure_files(swept_by_family())]


def report_figures():
    """The PNGs findings.md links to: add a new figure set's targets here (its rule flags them with reported())."""
    return [f for f in figure_targets() + findings_figure_targets() if f.endswith(".png")]


def findings_targets():
    """Every output of this stage: add to `rule all`."""
    return [f"{R}/tables/{name}.csv" for name in TABLES] + findings_figure_targets() + [f"{R}/findings.md"]


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
        tables=[f"{R}/tables/{name}.csv" for name in TABLES],
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

# Stage 4b: topological landscape profiles (paper 1): one per analysed model (run or checkpoint), drawn
# by the topology job (topology.smk), and per family one grid figure of the final models (rows = settings
# of the swept hyperparameters, columns = seeds). Needs common.smk (R, RUNS, UNITS, families) and
# topology.smk (PROFILE_OPTIONS); add PROFILE_TARGETS to `rule all`.
FAMILY_RUN_DIRS = {family: [f"{R}/runs/{run_id}" for run_id, run in RUNS.items() if run.family == family]
                   for family in families()}
# The profile grid figures: add to `rule all` (each unit's own profile is an input of the aggregate).
PROFILE_TARGETS = [f"{R}/figures/{family}/profiles.{fmt}" for family in FAMILY_RUN_DIRS for fmt in ("svg", "png")]


rule profile_grid:
    input:
        runs=f"{R}/tables/runs.csv",  # built from every run's files (aggregate_inputs)
        args=f"{R}/logs/args/profile_grid_{{family}}.args",  # --run-dirs ... (arguments.smk)
    output:
        svg=f"{R}/figures/{{family}}/profiles.svg",
        png=report(f"{R}/figures/{{family}}/profiles.png", caption="../report/profile_grid.rst",
                   category="Landscape profiles", subcategory="The sweep's grid", labels={"family": "{family}"}),
    params:
        options=PROFILE_OPTIONS,
    wildcard_constraints:
        family="|".join(re.escape(f) for f in FAMILY_RUN_DIRS) or "(?!)",
    log:
        f"{R}/logs/profile_grid_{{family}}.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo profile-grid @{input.args:q} --out-svg {output.svg:q} --out-png {output.png:q}"
        " {params.options} --title {wildcards.family:q} > {log:q} 2>&1"

# Stage 4b: topological landscape profiles (paper 1): one per analysed model (run or checkpoint), drawn
# by the topology job (topology.smk), and per family one grid figure of the final models (rows = settings
# of the swept hyperparameters, columns = seeds).


rule profile_grid:
    input:
        runs=f"{R}/tables/runs.csv",  # built from every run's files (aggregate_inputs)
        args=f"{R}/logs/args/profile_grid_{{family}}.args",  # --run-dirs ... (arguments.smk)
    output:
        svg=f"{R}/figures/{{family}}/profiles.svg",
        png=report(f"{R}/figures/{{family}}/profiles.png", caption="../report/profile_grid.rst",
                   category="Landscape profiles", subcategory="The sweep's grid", labels={"family": "{family}"}),
    params:
        options=profile_options(),
    wildcard_constraints:
        family=alternatives(FAMILIES),
    log:
        f"{R}/logs/profile_grid_{{family}}.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo profile-grid --args-file {input.args:q} --out-svg {output.svg:q} --out-png {output.png:q}"
        " {params.options} --title {wildcards.family:q} > {log:q} 2>&1"

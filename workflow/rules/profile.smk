# Stage 4b: topological landscape profiles (paper 1): one per analysed model (run or checkpoint), and
# per family one grid figure of the final models (rows = settings of the swept hyperparameters,
# columns = seeds). Needs common.smk (R, RUNS, UNITS, UNIT_DIR, the shell prefix, families) and topology.smk;
# add PROFILE_TARGETS to `rule all`.
PROFILE = CONFIG["profile"]  # defaults filled in by the schema
PROFILE_OPTIONS = (
    f"--threshold {PROFILE['threshold']} --max-basins {PROFILE['max_basins']} --levels {PROFILE['levels']}"
    f" --scale {PROFILE['scale']} --cmap {shlex.quote(PROFILE['cmap'])}"
)

FAMILY_RUN_DIRS = {family: [f"{R}/runs/{run_id}" for run_id, run in RUNS.items() if run.family == family]
                   for family in families()}
# Every profile figure: add to `rule all`.
PROFILE_TARGETS = [f"{R}/runs/{unit}/profile.{fmt}" for unit in UNITS for fmt in ("svg", "png")] + [
    f"{R}/figures/{family}/profiles.{fmt}" for family in FAMILY_RUN_DIRS for fmt in ("svg", "png")]


rule profile:
    group:
        "unit_light"  # with the topology (profile) of the same unit: one cluster job (profiles/slurm)
    input:
        landscape=f"{UNIT_DIR}/landscape.npz",
        topology=f"{UNIT_DIR}/topology/topology.json",
    output:
        svg=f"{UNIT_DIR}/profile.svg",
        png=report(f"{UNIT_DIR}/profile.png", caption="../report/profile.rst", category="Landscape profiles",
                   subcategory="One per analysed model", labels={"model": "{unit}"}),
    params:
        options=PROFILE_OPTIONS,
        topology_dir=subpath(input.topology, parent=True),
    log:
        f"{UNIT_LOG_DIR}/profile.log",
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo profile --topology-dir {params.topology_dir:q} --landscape {input.landscape:q}"
        " --out-svg {output.svg:q} --out-png {output.png:q} {params.options} --title {wildcards.unit:q}"
        " > {log:q} 2>&1"


rule profile_grid:
    input:
        lambda w: [f"{d}/{name}" for d in FAMILY_RUN_DIRS[w.family]
                   for name in ("run.json", "landscape.npz", "topology/topology.json")],
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

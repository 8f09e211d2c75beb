# Stage 5c: mode connectivity (global scale, as in LossLens): for every setting of the sweep with several
# seeds, the loss on the straight line between each pair of seed models (one job per pair, so a new seed
# adds only its own pairs), and results/tables/connectivity.csv. Needs common.smk (R, RUNS, LOSSTOPO,
# GPU_PER_JOB); add CONNECTIVITY_TARGETS to `rule all`.
CONNECTIVITY = CONFIG["connectivity"]  # defaults filled in by the schema


def _settings():
    """{setting id: {seed: run id}}: a run id without its seed part ("pinn/beta~30", or "unet")."""
    out = {}
    for run_id, run in RUNS.items():
        out.setdefault(run_id.rsplit("/", 1)[0], {})[run.seed] = run_id
    return out


SETTINGS = _settings()
CONNECTIVITY_PAIRS = [f"{R}/connectivity/{setting}/seed~{a}_seed~{b}.json"
                      for setting, seeds in SETTINGS.items() for a in sorted(seeds) for b in sorted(seeds) if a < b
                      ] if CONNECTIVITY["enabled"] else []
CONNECTIVITY_TARGETS = [f"{R}/tables/connectivity.csv"] if CONNECTIVITY["enabled"] else []


def _pair_run(which):
    return lambda w: f"{R}/runs/{SETTINGS[w.setting][int(getattr(w, which))]}"


rule connectivity_pair:
    input:
        model_a=lambda w: f"{_pair_run('a')(w)}/model.pt",
        model_b=lambda w: f"{_pair_run('b')(w)}/model.pt",
        train_a=lambda w: f"{_pair_run('a')(w)}/train.json",
        train_b=lambda w: f"{_pair_run('b')(w)}/train.json",
    output:
        f"{R}/connectivity/{{setting}}/seed~{{a}}_seed~{{b}}.json",
    params:
        run_a=_pair_run("a"),
        run_b=_pair_run("b"),
        points=CONNECTIVITY["points"],
        precision=lambda w: RUNS[SETTINGS[w.setting][int(w.a)]].landscape["precision"],
        device=CONFIG["device"],
    wildcard_constraints:
        setting=_alternatives(SETTINGS),
        a=r"\d+",
        b=r"\d+",
    log:
        f"{R}/logs/connectivity/{{setting}}/seed~{{a}}_seed~{{b}}.log",
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
        gpu=GPU_PER_JOB,
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} connectivity --run-a {params.run_a:q} --run-b {params.run_b:q} --points {params.points}"
        " --precision {params.precision} --device {params.device} --out {output:q} > {log:q} 2>&1"


rule connectivity_table:
    input:
        pairs=CONNECTIVITY_PAIRS,
        run_info=[f"{R}/runs/{run_id}/run.json" for run_id in RUNS],
    output:
        f"{R}/tables/connectivity.csv",
    log:
        f"{R}/logs/connectivity_table.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "{LOSSTOPO} connectivity-table --pairs {input.pairs:q} --out {output:q} > {log:q} 2>&1"

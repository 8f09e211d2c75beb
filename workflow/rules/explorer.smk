# Stage 6: results/explorer.html, one self-contained page that browses the whole sweep (linked views of
# every run and checkpoint, and mode connectivity). Written last, from everything the sweep produced.


rule explorer:
    input:
        # the tables stand for every run's files (aggregate_inputs) and every path file
        tables=[f"{R}/tables/runs.csv", f"{R}/tables/checkpoints.csv"] + CONNECTIVITY_TARGETS,
    output:
        f"{R}/explorer.html",
    params:
        results=lambda w, output: str(Path(output[0]).parent),
    log:
        f"{R}/logs/explorer.log",
    localrule: True
    conda:
        "../../envs/losstopo.yaml"
    shell:
        "python -m losstopo explorer {params.results:q} --out {output:q} > {log:q} 2>&1"

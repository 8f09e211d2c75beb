# Folder lists for the summary commands (aggregate, profile_grid). One command-line argument may hold at
# most 128 KiB, about 3,000 run folders, so a long list reaches `losstopo` as an argument file (`@file`:
# one argument per line), written by a local job whose params are the list: a changed list rewrites it.
# Needs common.smk (R, run_dirs, checkpoint_dirs) and profile.smk (FAMILY_RUN_DIRS); later rule files add
# their own lists to ARGUMENT_LISTS (findings.smk: invariance, connectivity.smk: the path files).

ARGUMENT_LISTS = {
    "aggregate": ["--run-dirs", *run_dirs(), "--checkpoint-dirs", *checkpoint_dirs()],
    **{f"profile_grid_{family}": ["--run-dirs", *dirs] for family, dirs in FAMILY_RUN_DIRS.items()},
}


rule argument_file:
    output:
        f"{R}/logs/args/{{name}}.args",
    params:
        lines=job_function(lambda w: ARGUMENT_LISTS[w.name]),
    wildcard_constraints:
        name=r"[A-Za-z0-9_]+",  # a name of ARGUMENT_LISTS (filled by several rule files)
    log:
        f"{R}/logs/args/{{name}}.log",
    localrule: True
    run:
        write_argument_file(output[0], params.lines, log[0])

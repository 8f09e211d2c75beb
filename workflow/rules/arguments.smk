# Folder lists for the summary commands (aggregate, profile_grid, invariance, connectivity_table). One
# command-line argument may hold at most 128 KiB, about 3,000 run folders, so a long list reaches `losstopo`
# as an argument file (`--args-file FILE`: one argument per line), written by a local job whose params are the list:
# a changed list rewrites it. The lists are ARGUMENT_LISTS of common.smk.


rule argument_file:
    output:
        f"{R}/logs/args/{{name}}.args",
    params:
        lines=job_function(lambda w: ARGUMENT_LISTS[w.name]),
    wildcard_constraints:
        name=alternatives(ARGUMENT_LISTS),
    log:
        f"{R}/logs/args/{{name}}.log",
    localrule: True
    run:
        write_argument_file(output[0], params.lines, log[0])

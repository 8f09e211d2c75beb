# losstopo: train a sweep of models, sample their loss landscapes, compute topology, aggregate.
# Run: `snakemake --cores all` (config/config.yaml) or `snakemake --profile profiles/slurm`.

# A --configfile on the command line replaces the default config instead of merging into it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/directions.smk"
include: "workflow/rules/hessian.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/topology.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/arguments.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/distances.smk"
include: "workflow/rules/findings.smk"
include: "workflow/rules/connectivity.smk"
include: "workflow/rules/explorer.smk"


if report_requested():
    check_report_inputs(SWEEP_TARGETS)


onstart:
    check_plugins()
    lock_results()
    record_config()


onsuccess:
    unlock_results()


onerror:
    unlock_results()


rule all:
    input:
        SWEEP_TARGETS,
    default_target: True

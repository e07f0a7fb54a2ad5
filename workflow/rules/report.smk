# Report: one tidy metrics table and the figures built from it.


localrules:
    aggregate_metrics,
    plot_metrics,


rule aggregate_metrics:
    input:
        metrics=cell_paths(f"{RESULTS}/evaluate/{CELL}/metrics.json"),
    output:
        table=f"{RESULTS}/tables/metrics.csv",
    log:
        f"{LOGS}/aggregate_metrics/metrics.log",
    params:
        code=REPORT_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/aggregate_metrics.py"


rule plot_metrics:
    input:
        table=f"{RESULTS}/tables/metrics.csv",
        samples=cell_paths(f"{RESULTS}/train/{CELL}/samples.png"),
    output:
        scores=f"{RESULTS}/plots/fid_kid_vs_zdim.png",
        samples=f"{RESULTS}/plots/samples_vs_zdim.png",
    log:
        f"{LOGS}/plot_metrics/plots.log",
    params:
        cells=lambda wildcards: list(grid_cells()),
        code=REPORT_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/plot_metrics.py"

# Report: one tidy metrics table and the figures built from it.


localrules:
    aggregate_metrics,
    plot_metrics,


rule aggregate_metrics:
    input:
        metrics=cell_paths(f"{RESULTS}/evaluate/{CELL}/metrics.json"),
    output:
        table=report(f"{RESULTS}/tables/metrics.csv", caption="../report/metrics_table.rst",
                     category="Noise-dimension sweep"),
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
        min_noise_dim=f"{RESULTS}/theory/min_noise_dim.csv",
        samples=cell_paths(f"{RESULTS}/train/{CELL}/samples.png"),
    output:
        scores=report(f"{RESULTS}/plots/fid_kid_vs_zdim.png",
                      caption="../report/scores_vs_zdim.rst", category="Noise-dimension sweep"),
        samples=report(f"{RESULTS}/plots/samples_vs_zdim.png",
                       caption="../report/samples_vs_zdim.rst", category="Noise-dimension sweep"),
    log:
        f"{LOGS}/plot_metrics/plots.log",
    params:
        cells=lambda wildcards: list(grid_cells()),
        code=REPORT_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/plot_metrics.py"

# Theory: exact noise entropy, lossless bitrates of the datasets, and the minimum noise
# dimension n_min = ceil(H(X) / h_noise) they imply.


rule noise_entropy_table:
    output:
        table=report(f"{RESULTS}/theory/noise_entropy.csv",
                     caption="../report/noise_entropy.rst", category="Theory"),
        markdown=f"{RESULTS}/theory/noise_entropy.md",
    log:
        f"{LOGS}/noise_entropy_table/noise_entropy.log",
    params:
        dtypes=config["theory"]["dtypes"],
        laws=config["theory"]["laws"],
        code=THEORY_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/noise_entropy_table.py"


rule dataset_bitrates:
    input:
        dataset=f"{RESULTS}/data/{{dataset}}",
    output:
        table=report(f"{RESULTS}/theory/bitrates/{{dataset}}.csv",
                     caption="../report/bitrates.rst", category="Theory"),
        markdown=f"{RESULTS}/theory/bitrates/{{dataset}}.md",
    log:
        f"{LOGS}/dataset_bitrates/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/dataset_bitrates/{{dataset}}.tsv"
    params:
        dataset=lambda wildcards: wildcards.dataset,
        split=config["theory"]["bitrate_split"],
        max_images=config["theory"]["bitrate_max_images"],
        codecs=config["theory"]["codecs"],
        code=THEORY_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/dataset_bitrates.py"


rule min_noise_dim_table:
    input:
        bitrates=expand(f"{RESULTS}/theory/bitrates/{{dataset}}.csv", dataset=theory_datasets()),
    output:
        table=report(f"{RESULTS}/theory/min_noise_dim.csv",
                     caption="../report/min_noise_dim.rst", category="Theory"),
        markdown=f"{RESULTS}/theory/min_noise_dim.md",
    log:
        f"{LOGS}/min_noise_dim_table/min_noise_dim.log",
    params:
        noise_formats=config["theory"]["noise_formats"],
        use_paper_constant=config["theory"]["use_paper_constant"],
        code=THEORY_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/min_noise_dim_table.py"


rule solve_tradeoff:
    input:
        unpack(tradeoff_source_file),
    output:
        curve=f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.csv",
        source=f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.source.csv",
    log:
        f"{LOGS}/solve_tradeoff/{{source}}_{{divergence}}.log",
    benchmark:
        f"{BENCHMARKS}/solve_tradeoff/{{source}}_{{divergence}}.tsv"
    params:
        source=lambda wildcards: config["tradeoff"]["sources"][wildcards.source],
        divergence=lambda wildcards: wildcards.divergence,
        num_points=config["tradeoff"]["num_points"],
        max_fraction=config["tradeoff"]["max_fraction"],
        seed=config["tradeoff"]["seed"],
        code=TRADEOFF_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/solve_tradeoff.py"


rule plot_tradeoff:
    input:
        curve=f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.csv",
        source=f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.source.csv",
    output:
        figure=report(f"{RESULTS}/theory/tradeoff/{{source}}_{{divergence}}.png",
                      caption="../report/tradeoff.rst", category="Theory",
                      subcategory="Divergence-entropy trade-off"),
    log:
        f"{LOGS}/plot_tradeoff/{{source}}_{{divergence}}.log",
    params:
        title=lambda wildcards: f"{wildcards.source}: {wildcards.divergence} against entropy",
        code=REPORT_CODE_TRADEOFF,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/plot_tradeoff.py"

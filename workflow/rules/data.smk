# Datasets: each is built once into results/data/<name> in the project's format.


rule build_dataset:
    output:
        directory(f"{RESULTS}/data/{{dataset}}"),
    log:
        f"{LOGS}/build_dataset/{{dataset}}.log",
    params:
        builder=lambda wildcards: config["datasets"][wildcards.dataset]["builder"],
        options=lambda wildcards: config["datasets"][wildcards.dataset]["options"],
        code=data_code,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/build_dataset.py"

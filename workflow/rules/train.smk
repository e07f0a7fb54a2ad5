# Training: the domain feature extractor per dataset, and one GAN per grid cell.


rule train_feature_extractor:
    input:
        dataset=f"{RESULTS}/data/{{dataset}}",
    output:
        weights=f"{RESULTS}/extractors/{{dataset}}/classifier.pt",
        summary=f"{RESULTS}/extractors/{{dataset}}/classifier.json",
    log:
        f"{LOGS}/train_feature_extractor/{{dataset}}.log",
    params:
        settings=config["feature_extractor_training"],
        code=EXTRACTOR_CODE,
    threads: 2
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/train_feature_extractor.py"


rule train_gan:
    input:
        dataset=f"{RESULTS}/data/{{dataset}}",
    output:
        network=f"{RESULTS}/train/{CELL}/network.pt",
        samples=f"{RESULTS}/train/{CELL}/samples.png",
    log:
        f"{LOGS}/train_gan/{CELL}.log",
    benchmark:
        f"{BENCHMARKS}/train_gan/{CELL}.tsv"
    params:
        settings=train_settings,
        run_dir=lambda wildcards, output: str(Path(output.network).parent),
        device=config["train"]["device"],
        code=TRAIN_CODE,
        model_code=model_code,
    threads: config["train"]["threads"]
    resources:
        **rule_resources("train_gan"),
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/train_gan.py"

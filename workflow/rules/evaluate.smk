# Evaluation: reference features once per (dataset, extractor, protocol), FID/KID per cell.


rule extract_reference_features:
    input:
        unpack(extractor_weights),
        dataset=f"{RESULTS}/data/{{dataset}}",
    output:
        features=f"{RESULTS}/evaluate/reference/{{dataset}}/{{extractor}}.pt",
    log:
        f"{LOGS}/extract_reference_features/{{dataset}}/{{extractor}}.log",
    benchmark:
        f"{BENCHMARKS}/extract_reference_features/{{dataset}}/{{extractor}}.tsv"
    params:
        protocol=evaluation_protocol,
        weights=lambda wildcards, input: weights_path(input),
        code=REFERENCE_CODE,
    threads: 2
    resources:
        **rule_resources("extract_reference_features"),
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/extract_reference_features.py"


rule compute_fid_kid:
    input:
        unpack(extractor_weights),
        network=f"{RESULTS}/train/{CELL}/network.pt",
        dataset=f"{RESULTS}/data/{{dataset}}",
        reference=lambda wildcards: f"{RESULTS}/evaluate/reference/{wildcards.dataset}/"
        f"{config['evaluation']['extractor']}.pt",
    output:
        metrics=f"{RESULTS}/evaluate/{CELL}/metrics.json",
    log:
        f"{LOGS}/compute_fid_kid/{CELL}.log",
    benchmark:
        f"{BENCHMARKS}/compute_fid_kid/{CELL}.tsv"
    params:
        protocol=evaluation_protocol,
        weights=lambda wildcards, input: weights_path(input),
        cell=lambda wildcards: dict(dataset=wildcards.dataset, model=wildcards.model,
                                    capacity=capacity_value(wildcards.capacity),
                                    z_dim=int(wildcards.z_dim), seed=int(wildcards.seed)),
        code=EVALUATE_CODE,
        model_code=model_code,
    threads: 1
    resources:
        **rule_resources("compute_fid_kid"),
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/compute_fid_kid.py"

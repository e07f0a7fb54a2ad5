# Known entropy: GANs whose noise carries exactly z_dim * bits bits, trained on a templates
# source of known H(X), measured against the curve d(eps) and the lattice bound.

from noisedim import known_entropy

known_entropy.check_config(config["known_entropy"])

KNOWN_ENTROPY = f"{RESULTS}/known_entropy"
KNOWN_ENTROPY_CELL = "nz{z_dim}/bits{bits}/seed{seed}"
KNOWN_ENTROPY_DATA_CODE = code_fingerprint("data/templates.py", "data/digits.py",
                                           "data/format.py", "sources.py")
KNOWN_ENTROPY_MEASURE_CODE = code_fingerprint(
    "known_entropy.py", "noise.py", "training.py", "models/__init__.py",
    f"models/{config['known_entropy']['train']['model']}.py", "data/templates.py",
    "divergences.py",
)
KNOWN_ENTROPY_BOUNDS_CODE = code_fingerprint("known_entropy.py", "tradeoff.py",
                                             "tradeoff_reference.py", "divergences.py",
                                             "sources.py", "data/templates.py")
KNOWN_ENTROPY_REPORT_CODE = code_fingerprint("known_entropy.py", "plots_known_entropy.py")


wildcard_constraints:
    bits=r"\d+",


localrules:
    known_entropy_report,


KNOWN_ENTROPY_OUTPUTS = [
    f"{KNOWN_ENTROPY}/known_entropy.csv",
    f"{KNOWN_ENTROPY}/divergence_vs_entropy.png",
]
KNOWN_ENTROPY_MEASUREMENTS = [
    f"{KNOWN_ENTROPY}/measure/{KNOWN_ENTROPY_CELL}/measurement.json".format(**cell)
    for cell in known_entropy.grid_cells(config["known_entropy"])
]
KNOWN_ENTROPY_RESOURCES = config["known_entropy"]["train"]["resources"]


rule build_known_entropy_dataset:
    output:
        directory(f"{KNOWN_ENTROPY}/data"),
    log:
        f"{LOGS}/build_known_entropy_dataset/data.log",
    params:
        builder="templates",
        options=config["known_entropy"]["dataset"],
        code=KNOWN_ENTROPY_DATA_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/build_dataset.py"


rule train_known_entropy_gan:
    input:
        dataset=f"{KNOWN_ENTROPY}/data",
    output:
        network=f"{KNOWN_ENTROPY}/train/{KNOWN_ENTROPY_CELL}/network.pt",
        samples=f"{KNOWN_ENTROPY}/train/{KNOWN_ENTROPY_CELL}/samples.png",
    log:
        f"{LOGS}/train_known_entropy_gan/{KNOWN_ENTROPY_CELL}.log",
    benchmark:
        f"{BENCHMARKS}/train_known_entropy_gan/{KNOWN_ENTROPY_CELL}.tsv"
    params:
        settings=lambda wildcards: known_entropy.cell_train_settings(
            config["known_entropy"], wildcards.z_dim, wildcards.bits, wildcards.seed
        ),
        run_dir=lambda wildcards, output: str(Path(output.network).parent),
        device=config["known_entropy"]["train"]["device"],
        code=TRAIN_CODE,
        model_code=code_fingerprint(f"models/{config['known_entropy']['train']['model']}.py"),
    threads: config["known_entropy"]["train"]["threads"]
    resources:
        gpu=KNOWN_ENTROPY_RESOURCES["gpu"],
        mem_mb=KNOWN_ENTROPY_RESOURCES["mem_mb"],
        runtime=lambda wildcards, attempt: KNOWN_ENTROPY_RESOURCES["runtime"] * attempt,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/train_gan.py"


rule measure_known_entropy:
    input:
        network=f"{KNOWN_ENTROPY}/train/{KNOWN_ENTROPY_CELL}/network.pt",
        dataset=f"{KNOWN_ENTROPY}/data",
    output:
        measurement=f"{KNOWN_ENTROPY}/measure/{KNOWN_ENTROPY_CELL}/measurement.json",
    log:
        f"{LOGS}/measure_known_entropy/{KNOWN_ENTROPY_CELL}.log",
    benchmark:
        f"{BENCHMARKS}/measure_known_entropy/{KNOWN_ENTROPY_CELL}.tsv"
    params:
        settings=config["known_entropy"]["measure"],
        code=KNOWN_ENTROPY_MEASURE_CODE,
    threads: 1
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/measure_known_entropy.py"


rule solve_known_entropy_bounds:
    input:
        dataset=f"{KNOWN_ENTROPY}/data",
    output:
        curve=f"{KNOWN_ENTROPY}/bounds/curve.csv",
        lattice=f"{KNOWN_ENTROPY}/bounds/lattice.csv",
    log:
        f"{LOGS}/solve_known_entropy_bounds/bounds.log",
    benchmark:
        f"{BENCHMARKS}/solve_known_entropy_bounds/bounds.tsv"
    params:
        noise_bits=known_entropy.grid_noise_bits(config["known_entropy"]),
        divergences=config["known_entropy"]["divergences"],
        curve_points=config["known_entropy"]["curve_points"],
        seed=config["known_entropy"]["curve_seed"],
        code=KNOWN_ENTROPY_BOUNDS_CODE,
    threads: 1
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/solve_known_entropy_bounds.py"


rule known_entropy_report:
    input:
        measurements=KNOWN_ENTROPY_MEASUREMENTS,
        curve=f"{KNOWN_ENTROPY}/bounds/curve.csv",
        lattice=f"{KNOWN_ENTROPY}/bounds/lattice.csv",
    output:
        table=report(f"{KNOWN_ENTROPY}/known_entropy.csv",
                     caption="../report/known_entropy_table.rst", category="Known entropy"),
        figure=report(f"{KNOWN_ENTROPY}/divergence_vs_entropy.png",
                      caption="../report/known_entropy_figure.rst", category="Known entropy"),
    log:
        f"{LOGS}/known_entropy_report/report.log",
    params:
        divergences=config["known_entropy"]["divergences"],
        code=KNOWN_ENTROPY_REPORT_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/known_entropy_report.py"

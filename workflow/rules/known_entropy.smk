# Known entropy: GANs whose noise carries exactly z_dim * bits bits, trained on a templates
# source of known H(X), measured against the curve d(eps) and the lattice bound.

from noisedim.known_entropy import check_config as check_known_entropy_config

check_known_entropy_config(config["known_entropy"])

KNOWN_ENTROPY = f"{RESULTS}/known_entropy"
KNOWN_ENTROPY_CELL = "nz{z_dim}/bits{bits}/seed{seed}"
KNOWN_ENTROPY_DATA_CODE = code_fingerprint("data/templates.py", "data/digits.py",
                                           "data/format.py", "sources.py")
KNOWN_ENTROPY_MEASURE_CODE = code_fingerprint("known_entropy.py", "noise.py", "training.py",
                                              "models", "data/templates.py", "divergences.py")
KNOWN_ENTROPY_BOUNDS_CODE = code_fingerprint("known_entropy.py", "tradeoff.py",
                                             "tradeoff_reference.py", "divergences.py",
                                             "sources.py", "data/templates.py")
KNOWN_ENTROPY_REPORT_CODE = code_fingerprint("known_entropy.py", "plots_known_entropy.py")


wildcard_constraints:
    bits=r"\d+",


localrules:
    known_entropy_report,


def known_entropy_cells():
    """Yield the wildcard values of every (z_dim, bits, seed) known-entropy cell."""
    section = config["known_entropy"]
    for z_dim, bits, seed in itertools.product(section["z_dims"], section["bits"],
                                               section["seeds"]):
        yield dict(z_dim=z_dim, bits=bits, seed=seed)


def known_entropy_noise_bits():
    """Return the distinct H(Z) = z_dim * bits of the grid, in bits."""
    return sorted({cell["z_dim"] * cell["bits"] for cell in known_entropy_cells()})


def known_entropy_outputs():
    """The table and figure of the known-entropy experiment, for rule all."""
    return [f"{KNOWN_ENTROPY}/known_entropy.csv", f"{KNOWN_ENTROPY}/divergence_vs_entropy.png"]


def known_entropy_train_settings(wildcards):
    """Return this cell's TrainSettings keywords, with noise quantised to `bits` per dimension."""
    section = config["known_entropy"]
    train = section["train"]
    return dict(
        model=train["model"],
        z_dim=int(wildcards.z_dim),
        capacity=train["capacity"],
        seed=int(wildcards.seed),
        total_kimg=train["total_kimg"],
        batch_size=train["batch_size"],
        tick_kimg=train["tick_kimg"],
        snapshot_ticks=train["snapshot_ticks"],
        ema_kimg=train["ema_kimg"],
        model_options=train["model_options"],
        noise=dict(bits=int(wildcards.bits), levels=section["noise_levels"]),
    )


def known_entropy_resources():
    settings = config["known_entropy"]["train"]["resources"]
    return dict(
        gpu=settings["gpu"],
        mem_mb=settings["mem_mb"],
        runtime=lambda wildcards, attempt: settings["runtime"] * attempt,
    )


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
        settings=known_entropy_train_settings,
        run_dir=lambda wildcards, output: str(Path(output.network).parent),
        device=config["known_entropy"]["train"]["device"],
        code=TRAIN_CODE,
        model_code=code_fingerprint(f"models/{config['known_entropy']['train']['model']}.py"),
    threads: config["known_entropy"]["train"]["threads"]
    resources:
        **known_entropy_resources(),
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
        noise_bits=known_entropy_noise_bits(),
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
        measurements=[f"{KNOWN_ENTROPY}/measure/{KNOWN_ENTROPY_CELL}/measurement.json".format(**cell)
                      for cell in known_entropy_cells()],
        curve=f"{KNOWN_ENTROPY}/bounds/curve.csv",
        lattice=f"{KNOWN_ENTROPY}/bounds/lattice.csv",
    output:
        table=f"{KNOWN_ENTROPY}/known_entropy.csv",
        figure=f"{KNOWN_ENTROPY}/divergence_vs_entropy.png",
    log:
        f"{LOGS}/known_entropy_report/report.log",
    params:
        divergences=config["known_entropy"]["divergences"],
        code=KNOWN_ENTROPY_REPORT_CODE,
    conda:
        "../../envs/noisedim.yaml"
    script:
        "../scripts/known_entropy_report.py"

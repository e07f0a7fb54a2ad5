"""Tabulate the exact entropy of noise laws rounded to float formats (rule noise_entropy_table).

Snakemake interface:
  params.dtypes   list of float formats: float16, bfloat16, float32, float64
  params.laws     list of noise laws: normal, uniform01, uniform11
  output.table    CSV with columns dtype, law, entropy_bits (bits per noise dimension)
  output.markdown the same table in Markdown
  log[0]          job log
"""

from noisedim.compression import to_markdown
from noisedim.entropy import law_entropy_table
from noisedim.logs import run_logged


def main(snakemake):
    table = law_entropy_table(list(snakemake.params.dtypes), list(snakemake.params.laws))
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as handle:
        handle.write(to_markdown(table) + "\n")


run_logged(snakemake.log[0], main, snakemake)

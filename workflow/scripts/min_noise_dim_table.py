"""Turn dataset bitrates into the minimum noise dimension per noise format (rule
min_noise_dim_table).

Snakemake interface:
  input.bitrates             one or more CSVs written by dataset_bitrates.py
  params.noise_formats       list of [dtype, law, bits]: bits null for `law` noise rounded to
                             `dtype`, else quantised noise of `bits` bits with level set `law`
  params.use_paper_constant  true to use the paper's 26.55 bits for float32 normal noise
  output.table               CSV with the columns of min_noise_dim_table
  output.markdown            the same table in Markdown
  log[0]                     job log
"""

import pandas as pd

from noisedim.compression import min_noise_dim_table, to_markdown
from noisedim.logs import run_logged


def main(snakemake):
    bitrates = pd.concat([pd.read_csv(path) for path in snakemake.input.bitrates],
                         ignore_index=True)
    noise_formats = [(dtype, law, None if bits is None else int(bits))
                     for dtype, law, bits in snakemake.params.noise_formats]
    table = min_noise_dim_table(bitrates, noise_formats,
                                use_paper_constant=bool(snakemake.params.use_paper_constant))
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as handle:
        handle.write(to_markdown(table) + "\n")


run_logged(snakemake.log[0], main, snakemake)

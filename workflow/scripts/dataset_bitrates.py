"""Measure lossless PNG, WebP and JPEG XL bitrates of one dataset split (rule dataset_bitrates).

Snakemake interface:
  input.dataset       dataset directory (dataset.json and .npz shards)
  params.dataset      dataset name, written to the table's `dataset` column
  params.split        split to measure, for example "train"
  params.max_images   measure only the first N images; null for all
  params.codecs       list of codec names (png, webp, jpegxl); null for all
  output.table        CSV: dataset_bitrates columns plus `dataset` and `split`
  output.markdown     the same table in Markdown
  log[0]              job log
"""

from noisedim.compression import dataset_bitrates, to_markdown
from noisedim.data.format import load_split
from noisedim.logs import run_logged


def main(snakemake):
    params = snakemake.params
    images, _ = load_split(snakemake.input.dataset, params.split)
    table = dataset_bitrates(images, codecs=params.codecs, max_images=params.max_images)
    table.insert(0, "split", params.split)
    table.insert(0, "dataset", params.dataset)
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as handle:
        handle.write(to_markdown(table) + "\n")


run_logged(snakemake.log[0], main, snakemake)

"""Datasets in the project's on-disk format (see ``noisedim.data.format``)."""

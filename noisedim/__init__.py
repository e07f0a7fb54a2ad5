"""noisedim: measure how the noise dimension of a GAN limits what it can generate."""

__version__ = "0.1.0"

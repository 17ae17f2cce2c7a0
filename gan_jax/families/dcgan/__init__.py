"""DCGAN (Radford et al. 2015): ``config.family = 'dcgan'``."""

from gan_jax.families.dcgan.family import DCGAN as FAMILY  # noqa: F401

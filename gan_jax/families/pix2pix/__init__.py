"""Pix2Pix (Isola et al. 2017): ``config.family = 'pix2pix'``."""

from gan_jax.families.pix2pix.family import Pix2Pix as FAMILY  # noqa: F401

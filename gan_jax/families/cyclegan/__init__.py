"""CycleGAN (Zhu et al. 2017): ``config.family = 'cyclegan'``."""

from gan_jax.families.cyclegan.family import CycleGAN as FAMILY  # noqa: F401

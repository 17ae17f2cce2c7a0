"""StarGAN (Choi et al. 2018): ``config.family = 'stargan'``."""

from gan_jax.families.stargan.family import StarGAN as FAMILY  # noqa: F401

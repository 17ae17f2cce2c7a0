"""Class-conditional DCGAN: ``config.family = 'conditional_dcgan'``."""

from gan_jax.families.conditional_dcgan.family import (  # noqa: F401
    ConditionalDCGAN as FAMILY)

"""GAWWN: what (a caption) and where (a box) to draw (Reed et al. 2016)."""

from gan_jax.families.gawwn.family import FAMILY  # noqa: F401

"""Context Encoders (Pathak et al. 2016): ``config.family = 'context_encoder'``."""

from gan_jax.families.context_encoder.family import ContextEncoder as FAMILY  # noqa: F401

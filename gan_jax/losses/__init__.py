"""GAN losses, shared by every GAN family.

Modules:

  adversarial     the adversarial pairs (D's loss, G's loss), computed from
                  D's raw outputs (logits or critic values): 'minimax' and
                  'non_saturating' (Goodfellow et al. 2014), 'hinge' (Lim & Ye
                  2017; Miyato et al. 2018), 'wasserstein' (Arjovsky et al.
                  2017), 'least_squares' (Mao et al. 2017); ``value_function``
                  is V(D, G) of Goodfellow et al. 2014, Eq. 1.
  penalties       regularisers of D: ``r1_penalty`` (Mescheder et al. 2018)
                  and ``gradient_penalty``, WGAN-GP (Gulrajani et al. 2017).
  reconstruction  ``l1``, the pix2pix reconstruction term (Isola et al. 2017).

Every weight (gamma, lambda) is applied by the caller, from its config.
"""

from gan_jax.losses.adversarial import LOSSES
from gan_jax.losses.adversarial import PROBABILITY_LOSSES
from gan_jax.losses.adversarial import discriminator_loss
from gan_jax.losses.adversarial import generator_loss
from gan_jax.losses.adversarial import value_function
from gan_jax.losses.penalties import gradient_penalty, r1_penalty
from gan_jax.losses.reconstruction import l1

__all__ = [
    'LOSSES',
    'PROBABILITY_LOSSES',
    'discriminator_loss',
    'generator_loss',
    'gradient_penalty',
    'l1',
    'r1_penalty',
    'value_function',
]

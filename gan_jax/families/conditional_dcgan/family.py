"""Class-conditional DCGAN: G(z, y) and D(x, y) on labelled images.

Mirza & Osindero 2014 feed the one-hot label y to both players; D can read it
by concatenation (their scheme, here as extra input channels) or by
projection (Miyato & Koyama 2018, Eq. 3: logit(x, y) = psi(phi(x)) +
<embed(y), phi(x)>, ``model.conditioning``), and can also classify (AC-GAN,
Odena et al. 2017, ``ac_weight``). Everything else is DCGAN's: the models
take ``num_classes``, ``dcgan.step`` draws G's labels uniformly and gives D
the real batch's own, and the loop is the shared one.

Grids put one class per row (``num_sample_images`` / classes per row, the
same z across rows, so each column holds one style); evaluation asks for
uniformly drawn classes and reports how often the digits classifier agrees
(``digits_class_accuracy``, per class too).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax.core import errors
from gan_jax.data import sources
from gan_jax.families.dcgan import models
from gan_jax.families.dcgan import family as dcgan_family
from gan_jax.nn import latent


class ConditionalDCGAN(dcgan_family.DCGAN):
  name = 'conditional_dcgan'

  @classmethod
  def validate(cls, config) -> None:
    super().validate(config)
    errors.positive_ints(config, 'model.num_classes')
    errors.one_of(config, 'model.conditioning', models.CONDITIONINGS)
    errors.require(config.ac_weight >= 0, 'ac_weight', 'must be non-negative',
                   config.ac_weight)
    errors.require(
        isinstance(config.generate_class, int)
        and -1 <= config.generate_class < config.model.num_classes,
        'generate_class',
        f'must be -1 (all classes) or a class in [0, {config.model.num_classes})',
        config.generate_class)
    errors.require(config.num_sample_images >= config.model.num_classes,
                   'num_sample_images', 'must give each class a grid row '
                   f'(at least model.num_classes = {config.model.num_classes})',
                   config.num_sample_images)

  @property
  def num_classes(self) -> int:
    return self.config.model.num_classes

  def _d_conditioning(self) -> dict:
    return dict(num_classes=self.num_classes,
                conditioning=self.config.model.conditioning,
                auxiliary_classifier=self.config.ac_weight > 0)

  def _ac_weight(self) -> float:
    return self.config.ac_weight

  def make_source(self) -> sources.Source:
    config = self.config
    source = sources.make_source(config.data.source, config.image_size,
                                 config.channels, config.data.tfds_dir,
                                 labels=True)
    errors.require(source.num_classes == self.num_classes, 'model.num_classes',
                   f'must match the {source.num_classes} classes of '
                   f'{source.name}', self.num_classes)
    return source

  def sample_inputs(self, key, num: int, label: int = -1) -> tuple:
    """(z, y): y uniform over the classes, or all ``label`` if >= 0."""
    if label >= 0:
      labels = jnp.full((num,), label, jnp.int32)
    else:
      labels = jax.random.randint(jax.random.fold_in(key, 1), (num,), 0,
                                  self.num_classes)
    return (*super().sample_inputs(key, num), labels)

  def walk_inputs(self, z, num_walks: int, num_steps: int) -> tuple:
    """Walk r shows class r mod num_classes (or ``generate_class``)."""
    labels = jnp.repeat(jnp.arange(num_walks) % self.num_classes, num_steps)
    if self.config.generate_class >= 0:
      labels = jnp.full_like(labels, self.config.generate_class)
    return z, labels

  def sample_grid(self, state):
    """A row per class, the same z in every row."""
    per_class = self.config.num_sample_images // self.num_classes
    model = self.config.model
    z = latent.sample_latent(jax.random.PRNGKey(self.config.seed + 1),
                             per_class, model.z_dim, model.z_distribution)
    z = jnp.tile(z, (self.num_classes, 1))
    labels = jnp.repeat(jnp.arange(self.num_classes), per_class)
    return self.sampler(*self.g_variables(state), z, labels), per_class


FAMILY = ConditionalDCGAN

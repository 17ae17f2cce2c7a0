import pytest

import dcgan  # configs/dcgan.py
from gan_jax.core import errors, loop


@pytest.mark.parametrize('preset', tuple(dcgan.PRESETS) + (None,))
def test_presets_validate(preset):
  config = dcgan.get_config(preset)
  if preset in ('mnist', 'cifar10', 'celeba'):
    assert config.data.source == {'mnist': 'tfds:mnist', 'cifar10': 'tfds:cifar10',
                                  'celeba': 'tfds:celeb_a'}[preset]
    assert (config.image_size, config.channels) == {
        'mnist': (32, 1), 'cifar10': (32, 3), 'celeba': (64, 3)}[preset]
  if preset in ('anime', 'anime_best'):
    assert (config.image_size, config.channels, config.batch_size) == (
        64, 3, {'anime': 128, 'anime_best': 64}[preset])
    config.data.source = 'folder:/some/faces'
  loop.validate(config)


def test_dcgan_paper_defaults():
  config = dcgan.get_config()
  assert (config.optimizer.lr, config.optimizer.b1) == (2e-4, 0.5)
  assert (config.model.z_dim, config.model.z_distribution) == (100, 'uniform')
  assert config.model.init_stddev == 0.02
  assert config.sample_epochs == (1, 5, 10, 20, 40, 60)


def test_unknown_preset():
  with pytest.raises(ValueError, match="unknown preset 'imagenet'"):
    dcgan.get_config('imagenet')


def _assert_named(config, field, value):
  """Setting ``field`` to ``value`` is one ConfigError that names it."""
  parent = config
  *path, leaf = field.split('.')
  for part in path:
    parent = parent[part]
  parent[leaf] = value
  with pytest.raises(errors.ConfigError, match=f'config.{field} '):
    loop.validate(config)


@pytest.mark.parametrize('field,value', [
    ('batch_size', 0), ('d_steps', -1), ('image_size', 48), ('channels', 2),
    ('loss', 'hing'), ('num_train_steps', 0), ('model.z_distribution', 'cauchy'),
    ('model.dtype', 'float16'), ('model.conv_impl', 'fft'),
    ('optimizer.lr', 0.0), ('optimizer.b1', 1.0), ('optimizer.name', 'sgd'),
    ('optimizer.schedule', 'step'), ('optimizer.d_lr_multiplier', 0.0),
    ('data.source', 'folder:'), ('data.source', 'mnist'),
    ('data.source', 'tfds:'), ('parallel', 'vmap'),
    ('sample_epochs', (0, 5)), ('r1_gamma', -1.0), ('gp_weight', -1.0),
    ('g_ema_decay', 1.0), ('model.d_norm', 'group'), ('loss', 'wasserstein'),
    ('optimizer.decay_start_fraction', 1.0),
])
def test_bad_values_name_the_field(field, value):
  _assert_named(dcgan.get_config(), field, value)


@pytest.mark.parametrize('field,value', [
    ('model.num_classes', 0), ('model.conditioning', 'film'),
    ('ac_weight', -1.0), ('generate_class', 10), ('num_sample_images', 9),
])
def test_conditional_bad_values_name_the_field(field, value):
  _assert_named(dcgan.get_config('conditional'), field, value)


def test_unknown_family_and_the_old_field_name():
  config = dcgan.get_config()
  config.family = 'stylegan'
  # (test_loop registers a test family: the list may hold more.)
  with pytest.raises(errors.ConfigError, match="config.family must be one of "
                     r"\('conditional_dcgan', 'context_encoder', 'cyclegan', 'dcgan'.*"
                     "got 'stylegan'"):
    loop.validate(config)
  config.family = 'dcgan'
  config.experiment = 'dcgan'
  with pytest.raises(errors.ConfigError, match='config.experiment was renamed '
                     'config.family'):
    loop.validate(config)

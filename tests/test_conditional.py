"""Class-conditional DCGAN: the label reaches both players, and the family
runs through the shared loop with a grid per class and class accuracy."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import dcgan  # configs/dcgan.py
from gan_jax import modes
from gan_jax.core import loop
from gan_jax.families.dcgan import models


@pytest.mark.parametrize('conditioning', ['projection', 'concat'])
def test_the_label_changes_what_g_draws_and_what_d_says(conditioning):
  g = models.Generator(32, 1, base_width=4, num_classes=10)
  d = models.Discriminator(32, base_width=4, num_classes=10,
                           conditioning=conditioning,
                           auxiliary_classifier=True)
  z = jax.random.uniform(jax.random.PRNGKey(0), (4, 8), minval=-1, maxval=1)
  three, seven = jnp.full((4,), 3), jnp.full((4,), 7)
  # Compiled whole: op by op, every operation would compile on its own.
  g_apply = jax.jit(functools.partial(g.apply, train=False))
  d_apply = jax.jit(functools.partial(d.apply, train=False))
  g_vars = jax.jit(functools.partial(g.init, train=False))(
      jax.random.PRNGKey(1), z, three)
  images = g_apply(g_vars, z, three)
  assert not np.allclose(images, g_apply(g_vars, z, seven))
  d_vars = jax.jit(functools.partial(d.init, train=False))(
      jax.random.PRNGKey(2), images, three)
  if conditioning == 'projection':  # its embedding starts at N(0, 0.02)
    d_vars = jax.tree_util.tree_map_with_path(
        lambda path, x: x * 100 if 'Embed' in str(path) else x, d_vars)
  logits, class_logits = d_apply(d_vars, images, three)
  other, _ = d_apply(d_vars, images, seven)
  assert class_logits.shape == (4, 10)
  # Tiny untrained logits: compare relative to their size.
  assert not np.allclose(logits, other, rtol=1e-2, atol=0)


@pytest.fixture(scope='module')
def conditional_run(tmp_path_factory, digits_classifier_cache):
  config = dcgan.get_config('conditional')
  config.batch_size, config.model.base_width, config.model.z_dim = 20, 4, 8
  config.num_train_steps, config.num_sample_images = 3, 20
  config.log_every_steps = config.checkpoint_every_steps = 3
  config.ac_weight = 1.0
  config.eval_num_samples, config.eval_batch_size = 40, 20
  config.generate_num_images, config.generate_class = 5, 3
  workdir = str(tmp_path_factory.mktemp('run'))
  digits_classifier_cache[1](os.path.join(workdir, 'eval'))
  return config, workdir, loop.train(config, workdir)


def test_the_loop_trains_it_with_class_grids_and_accuracy(conditional_run):
  config, workdir, summary = conditional_run
  assert summary['family'] == 'conditional_dcgan' and summary['step'] == 3
  assert np.isfinite(summary['d_class_loss'])
  scores = summary['eval']
  assert 0 <= scores['digits_class_accuracy'] <= 1
  per_class = [scores[f'digits_class_accuracy_{c}'] for c in range(10)
               if f'digits_class_accuracy_{c}' in scores]
  assert len(per_class) >= 5  # 40 samples of uniform classes
  with Image.open(os.path.join(workdir, 'samples',
                               'step_0000003_epoch_000.png')) as grid:
    assert grid.size == (2 * 34 + 2, 10 * 34 + 2)  # a row of 2 per class


def test_generate_one_class(conditional_run, tmp_path):
  config, workdir, _ = conditional_run
  out = modes.run(config, workdir, 'generate', str(tmp_path))
  assert sorted(os.listdir(out)) == [f'{i:06d}_class_3.png' for i in range(5)]


def test_labels_must_match_the_data(tmp_path):
  config = dcgan.get_config('conditional')
  config.model.num_classes = 5
  with pytest.raises(Exception, match='config.model.num_classes must match '
                     'the 10 classes of digits'):
    loop.train(config, str(tmp_path))

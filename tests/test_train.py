import json
import logging
import os

import jax
import numpy as np
import pytest

from gan_jax.core import errors, loop


def _final_state(config, workdir):
  """The state saved in workdir's latest checkpoint."""
  _, state, _ = loop.restore_trained(config, workdir)
  return state


@pytest.fixture(scope='module')
def resumed_and_straight(tmp_path_factory):
  """Two epochs straight, and one epoch + a restart with num_epochs=2."""
  import dcgan  # pylint: disable=g-import-not-at-top
  config = dcgan.get_config()
  config.batch_size = 128  # 14 steps per epoch of digits
  config.model.base_width = 4
  config.model.z_dim = 8
  config.num_sample_images = 4
  config.log_every_steps = 5
  config.checkpoint_every_steps = 10
  config.sample_epochs = (1,)
  config.eval_metrics = ()
  straight_dir = str(tmp_path_factory.mktemp('straight'))
  resumed_dir = str(tmp_path_factory.mktemp('resumed'))
  config.num_epochs = 2
  straight = loop.train(config, straight_dir)
  config.num_epochs = 1
  first_half = loop.train(config, resumed_dir)
  config.num_epochs = 2
  handler, root = _Capture(), logging.getLogger()
  level = root.level
  root.addHandler(handler)
  root.setLevel(logging.INFO)
  try:
    resumed = loop.train(config, resumed_dir)
  finally:
    root.removeHandler(handler)
    root.setLevel(level)
  return dict(config=config, straight_dir=straight_dir, straight=straight,
              resumed_dir=resumed_dir, first_half=first_half, resumed=resumed,
              log=handler.text)


class _Capture(logging.Handler):
  def __init__(self):
    super().__init__(logging.INFO)
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())

  @property
  def text(self):
    return '\n'.join(self.lines)


def test_restart_continues_from_last_step_with_identical_result(
    resumed_and_straight):
  run = resumed_and_straight
  assert run['first_half']['step'] == 14
  assert run['resumed']['resumed_from_step'] == 14
  assert run['resumed']['step'] == run['straight']['step'] == 28
  assert 'Resuming from checkpoint at step 14' in run['log']
  straight = _final_state(run['config'], run['straight_dir'])
  resumed = _final_state(run['config'], run['resumed_dir'])
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def test_outputs(resumed_and_straight):
  workdir = resumed_and_straight['resumed_dir']
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  for key in ('step', 'wall_time_s', 'images_per_s', 'd_loss', 'g_loss',
              'g_param_norm', 'd_param_norm'):
    assert np.isfinite(summary[key]), key
  samples = sorted(os.listdir(os.path.join(workdir, 'samples')))
  # Epoch 1 from the first run, epoch 2 (the last step) from the restart.
  assert samples == ['progress.gif', 'step_0000014_epoch_001.png',
                     'step_0000028_epoch_002.png']
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir))


def test_running_again_when_done_trains_nothing(resumed_and_straight, tmp_path):
  run = resumed_and_straight
  again = loop.train(run['config'], run['resumed_dir'])
  assert again['step'] == 28 and again['images_per_s'] is None


def test_bad_config_named_before_any_work(tiny_config, tmp_path):
  tiny_config.d_steps = 0
  with pytest.raises(errors.ConfigError, match='config.d_steps'):
    loop.train(tiny_config, str(tmp_path))
  assert not os.listdir(tmp_path)


def test_trains_on_a_mocked_tfds_dataset(tiny_config, tmp_path):
  tfds = pytest.importorskip('tensorflow_datasets')
  tiny_config.data.source = 'tfds:mnist'
  tiny_config.num_train_steps = 2
  with tfds.testing.mock_data(num_examples=40,
                              policy=tfds.testing.MockPolicy.USE_CODE):
    summary = loop.train(tiny_config, str(tmp_path))
  assert (summary['status'], summary['step']) == ('completed', 2)
  assert np.isfinite(summary['g_loss'])

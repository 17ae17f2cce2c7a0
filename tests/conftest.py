"""Shared fixtures. Small shapes and a persistent compile cache keep CPU runs fast."""

import os
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))


@pytest.fixture(scope='session', autouse=True)
def compilation_cache(tmp_path_factory):
  # The same small programs are compiled by several tests (and by restarted
  # runs): XLA:CPU compiles dominate the suite's time otherwise.
  jax.config.update('jax_compilation_cache_dir',
                    str(tmp_path_factory.mktemp('jax_cache')))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
  yield


@pytest.fixture
def tiny_config():
  """The default digits config shrunk to seconds."""
  import dcgan  # configs/dcgan.py  # pylint: disable=g-import-not-at-top
  config = dcgan.get_config()
  config.batch_size = 16
  config.model.base_width = 4
  config.model.z_dim = 8
  config.num_sample_images = 4
  config.log_every_steps = 2
  config.checkpoint_every_steps = 2
  config.data.num_workers = 1
  return config

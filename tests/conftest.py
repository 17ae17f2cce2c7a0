"""Shared fixtures. Small shapes and a persistent compile cache keep CPU runs fast."""

import fcntl
import importlib.util
import os
import shutil
import sys

# Threefry's partitionable form (JAX's default) compiles ~5x slower on
# XLA:CPU (~0.8 s against ~0.17 s per random draw of a new shape, e.g. every
# parameter initialiser), and compiles dominate this suite. Its other form
# draws other numbers, but no test depends on which numbers are drawn, only
# on how they are used; both are invariant to sharding. Set before importing
# jax, so that subprocesses (the CLI and multi-process tests) inherit it.
os.environ.setdefault('JAX_THREEFRY_PARTITIONABLE', '0')
# Most of an XLA:CPU compile is LLVM optimising the machine code of each of
# the program's kernels. This suite's programs are tiny and run a few steps,
# so compiling them at optimisation level 0 saves far more than their slower
# machine code costs. The JAX programs are the product's; only their machine
# code is less optimised, so float rounding may differ from a default build
# (no test depends on which numbers come out, only on how they relate).
# Inherited by subprocesses like the flag above.
if 'xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = ' '.join(filter(None, [
      os.environ.get('XLA_FLAGS'), '--xla_backend_optimization_level=0']))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest

from gan_jax.core import loop  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))


def _shared_dir(tmp_path_factory, name):
  """A folder of this pytest run that every xdist worker sees (each worker's
  own temporary folders lie side by side under one parent)."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent
  path = root / name
  path.mkdir(exist_ok=True)
  return path


@pytest.fixture(scope='session', autouse=True)
def compilation_cache(tmp_path_factory):
  # The same small programs are compiled by several tests, by both xdist
  # workers and by the command-line runs the tests start (which inherit the
  # environment): XLA:CPU compiles dominate the suite's time otherwise. An
  # entry read while another process is still writing it fails to
  # decompress, and JAX then warns and compiles it again.
  cache = str(_shared_dir(tmp_path_factory, 'jax_cache'))
  settings = {'jax_compilation_cache_dir': cache,
              'jax_persistent_cache_min_compile_time_secs': 0,
              'jax_persistent_cache_min_entry_size_bytes': -1}
  for name, value in settings.items():
    jax.config.update(name, value)
    os.environ[name.upper()] = str(value)
  yield


# Fixtures that train a run (or the digits classifier) once and serve several
# tests. Under `-n 2` xdist hands tests to both workers, and a module or
# session fixture runs once in each worker that gets one of its tests; a
# worker that asks for the classifier while the other trains it waits. So
# every test of one such fixture goes to one worker ('--dist loadgroup',
# pyproject.toml), the classifier's users all to the same one.
# One run per session, and one per module (several modules name theirs
# tiny_run).
_SESSION_RUNS = ('digits_classifier_cache', 'trained_run')
_MODULE_RUNS = ('conditional_run', 'resumed_and_straight', 'uninterrupted',
                'run_with_eval', 'tiny_run', 'ce_run', 'short_run')


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items):
  for item in items:
    groups = ([name for name in _SESSION_RUNS if name in item.fixturenames]
              + [f'{item.module.__name__}.{name}' for name in _MODULE_RUNS
                 if name in item.fixturenames])
    if groups:  # the classifier's group first: its users share one worker
      item.add_marker(pytest.mark.xdist_group(groups[0]))


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
  # Evaluation has its own tests; elsewhere it would train the digits
  # classifier in every run.
  config.eval_metrics = ()
  return config


@pytest.fixture(scope='session')
def _tiny_dcgan_run(tmp_path_factory):
  import dcgan  # configs/dcgan.py  # pylint: disable=g-import-not-at-top
  config = dcgan.get_config()
  config.batch_size, config.model.base_width, config.model.z_dim = 16, 4, 8
  config.num_train_steps, config.num_sample_images = 2, 4
  config.eval_metrics = ()
  config.data.source, config.data.eval_source = 'digits[train]', 'digits[test]'
  config.generate_num_images, config.generate_npz = 20, True
  config.interpolate_num_walks, config.interpolate_num_steps = 3, 4
  config.inpaint_num_images, config.inpaint_batch_size = 5, 4
  config.inpaint_iterations, config.inpaint_candidates = 3, 2
  config.inpaint_grid_rows = 3
  workdir = str(tmp_path_factory.mktemp('tiny_dcgan'))
  loop.train(config, workdir)
  return config, workdir


@pytest.fixture
def trained_run(_tiny_dcgan_run):
  """A two-step DCGAN on digits[train] (held out: digits[test]) shared by the
  sampling and inpainting tests: (a copy of its config, its workdir)."""
  config, workdir = _tiny_dcgan_run
  return config.copy_and_resolve_references(), workdir


def _convert_script():
  path = os.path.join(ROOT, 'scripts', 'convert_inception_weights.py')
  spec = importlib.util.spec_from_file_location('convert_inception_weights',
                                                path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _torch_layout_layers(rng):
  """Random layers as the TorchScript stores them: weight OIHW, beta, mean, var."""
  from gan_jax.eval import inception  # pylint: disable=g-import-not-at-top
  shapes = inception._expected_shapes()  # pylint: disable=protected-access
  layers = {}
  for key, shape in shapes.items():
    if key.startswith('params/') and key.endswith('/kernel'):
      h, w, i, o = shape
      layers[key[len('params/'):-len('/kernel')]] = dict(
          weight=rng.normal(0, np.sqrt(2 / (h * w * i)), (o, i, h, w)),
          beta=rng.normal(0, 0.1, o), mean=rng.normal(0, 0.1, o),
          var=rng.uniform(0.5, 1.5, o))
  return layers


@pytest.fixture(scope='session')
def synthetic_inception_weights(tmp_path_factory):
  """A random FID-Inception weight file written by the conversion script's
  own code path (torch-layout OIHW arrays -> _layer -> to_flat -> write_npz)."""
  script = _convert_script()
  rng = np.random.default_rng(0)
  layers = {name: script._layer(t['weight'], t['beta'], t['mean'], t['var'])  # pylint: disable=protected-access
            for name, t in _torch_layout_layers(rng).items()}
  path = str(tmp_path_factory.mktemp('inception') / 'synthetic.npz')
  script.write_npz(script.to_flat(layers), path, source='synthetic')
  return path


@pytest.fixture(scope='session')
def digits_classifier_cache(tmp_path_factory):
  """The digits classifier, trained once per test run (by the first xdist
  worker to ask); copy_to(dir) plants its cache file where a run's
  evaluation looks for it."""
  from gan_jax.eval import digits_classifier  # pylint: disable=g-import-not-at-top
  shared = _shared_dir(tmp_path_factory, 'digits_classifier')
  cache_dir = str(shared)
  # Trained by the first worker that asks; the other waits for the file.
  with open(shared / 'lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    classifier = digits_classifier.get_classifier(32, 1, cache_dir)
  source = digits_classifier.cache_path(cache_dir, 32, 1)

  def copy_to(directory):
    os.makedirs(directory, exist_ok=True)
    shutil.copy(source, directory)

  return classifier, copy_to

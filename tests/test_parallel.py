"""Data parallelism: N devices (and N processes) compute what one device does.

Device counts are fixed when JAX starts, so every case runs in a subprocess.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from gan_jax.core import loop
from gan_jax.core import parallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# float32 sums in a different order (per-device partial means, then pmean):
# after 3 steps of Adam the states agree to ~2e-7; 1e-5 leaves 50x margin.
TOLERANCE = 1e-5

_EIGHT_DEVICES = textwrap.dedent('''
    import json, sys
    import jax
    jax.config.update('jax_num_cpu_devices', 8)
    import numpy as np
    sys.path.insert(0, 'configs')
    import dcgan
    from gan_jax.core import loop, parallel

    def run(mode, num_devices, batch_size=16):
      # The conditional family with AC-GAN's classifier: a batch of two
      # fields, labels drawn per device from the global draw, G's average.
      config = dcgan.get_config('conditional')
      config.batch_size, config.model.base_width = batch_size, 4
      config.model.z_dim, config.parallel = 8, mode
      config.ac_weight, config.g_ema_decay = 1.0, 0.9
      training = loop.build_training(config, 10,
                                     devices=jax.devices()[:num_devices])
      state = training.init(jax.random.PRNGKey(0))
      rng = np.random.default_rng(0)
      for _ in range(3):
        batch = {'image': rng.integers(0, 256, (1, batch_size, 32, 32, 1),
                                       np.uint8),
                 'label': rng.integers(0, 10, (1, batch_size)).astype(
                     np.int32)}
        state, metrics = training.train_step(state,
                                             training.put_batch(batch))
      return jax.device_get(state)

    def max_diff(a, b):
      return max(jax.tree.leaves(jax.tree.map(lambda a, b: float(np.max(
          np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))),
                                              a, b)))

    one = run('shard_map', 1)
    out = {mode: max_diff(one, run(mode, 8)) for mode in ('shard_map', 'pmap')}
    try:
      run('shard_map', 8, batch_size=12)
    except parallel.ParallelError as e:
      out['error'] = str(e)
    print(json.dumps(out))
''')


def _python(code_or_args, env=None, timeout=300):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT, **(env or {})}
  return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def test_eight_devices_match_one_device_under_shard_map_and_pmap():
  result = _python(['-c', _EIGHT_DEVICES])
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out['shard_map'] < TOLERANCE
  assert out['pmap'] < TOLERANCE
  assert out['error'] == ('config.batch_size 12 does not divide over the 8 '
                          'devices; use a multiple of 8')


_CONTEXT_ENCODER = textwrap.dedent('''
    import json, sys
    import jax
    jax.config.update('jax_num_cpu_devices', 4)
    import numpy as np
    sys.path.insert(0, 'configs')
    import context_encoder
    from gan_jax.core import loop

    def run(num_devices, batch_size=8):
      # Random-block and centre masks of different sizes on each device:
      # masks and the reconstruction's normaliser must be global.
      config = context_encoder.get_config()
      config.batch_size, config.model.base_width = batch_size, 4
      training = loop.build_training(config, 10,
                                     devices=jax.devices()[:num_devices])
      state = training.init(jax.random.PRNGKey(0))
      rng = np.random.default_rng(0)
      for _ in range(3):
        batch = {'image': rng.integers(0, 256, (1, batch_size, 32, 32, 1),
                                       np.uint8)}
        state, _ = training.train_step(state, training.put_batch(batch))
      return jax.device_get(state)

    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(
        np.asarray(a, np.float64) - np.asarray(b, np.float64)))), run(1),
                         run(4))
    print(json.dumps(max(jax.tree.leaves(diffs))))
''')


def test_context_encoder_on_four_devices_matches_one_device():
  result = _python(['-c', _CONTEXT_ENCODER])
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1]) < TOLERANCE


def test_check_divisible():
  parallel.check_divisible(16, 8)
  with pytest.raises(parallel.ParallelError, match='batch_size 10 .* 4 devices'):
    parallel.check_divisible(10, 4)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _main_args(workdir, steps):
  return ['-m', 'gan_jax.main', '--config=configs/dcgan.py',
          f'--workdir={workdir}', '--config.batch_size=16',
          '--config.model.base_width=4', '--config.model.z_dim=8',
          f'--config.num_train_steps={steps}', '--config.num_sample_images=4',
          '--config.log_every_steps=2', '--config.checkpoint_every_steps=2',
          '--config.data.num_workers=1', '--config.eval_metrics=()']


def _two_processes(workdir, steps):
  port = _free_port()
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT,
         'XLA_FLAGS': os.environ.get('XLA_FLAGS', '')
                      + ' --xla_force_host_platform_device_count=2'}
  procs = [subprocess.Popen(
      [sys.executable, *_main_args(workdir, steps),
       f'--coordinator_address=localhost:{port}', '--num_processes=2',
       f'--process_id={i}'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  for proc in procs:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
  with open(os.path.join(workdir, 'summary.json')) as f:
    return json.load(f)


def test_two_processes_match_one_process_and_restore(tmp_path, tiny_config):
  # The one process is this one, on its one device: _main_args's run (the
  # tiny_config fixture's settings), whose step other tests compile too.
  tiny_config.num_train_steps = 4
  one = loop.train(tiny_config, str(tmp_path / 'one'))
  two = _two_processes(tmp_path / 'two', 4)
  for norm in ('g_param_norm', 'd_param_norm'):
    assert two[norm] == pytest.approx(one[norm], rel=TOLERANCE)
  # Only process 0 writes files; both take part in the checkpoint.
  assert sorted(os.listdir(tmp_path / 'two' / 'samples')) == [
      'progress.gif', 'step_0000004_epoch_000.png']
  resumed = _two_processes(tmp_path / 'two', 6)
  assert (resumed['resumed_from_step'], resumed['step']) == (4, 6)

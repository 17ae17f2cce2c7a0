"""Preemption, kill -9, torn and foreign checkpoints, divergence, full disks.

The subprocess tests run the real main job, as a user or a cluster would.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_jax.core import checkpoints, errors, loop, signals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 40


def _args(workdir, steps=STEPS, *extra):
  return [sys.executable, '-m', 'gan_jax.main', '--config=configs/dcgan.py',
          f'--workdir={workdir}', '--config.batch_size=16',
          '--config.model.base_width=4', '--config.model.z_dim=8',
          f'--config.num_train_steps={steps}', '--config.num_sample_images=4',
          '--config.log_every_steps=1', '--config.checkpoint_every_steps=3',
          '--config.data.num_workers=1', '--config.eval_metrics=()', *extra]


@pytest.fixture(scope='module')
def env():
  # The suite's compile cache comes with os.environ (conftest.py).
  return {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}


def _run(args, env, timeout=300):
  return subprocess.run(args, cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


def _run_until_step(args, env, step, sig):
  """Starts the main job and sends ``sig`` when it logs training step ``step``."""
  proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, text=True)
  lines = []
  for line in proc.stderr:
    lines.append(line)
    if f'] [{step}/' in line:
      proc.send_signal(sig)
      break
  _, rest = proc.communicate(timeout=300)
  return proc.returncode, ''.join(lines) + rest


def _final_arrays(workdir, step=STEPS):
  path = os.path.join(workdir, 'checkpoints', str(step), 'default')
  with ocp.StandardCheckpointer() as checkpointer:
    return jax.tree_util.tree_flatten_with_path(checkpointer.restore(path))[0]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, env):
  workdir = str(tmp_path_factory.mktemp('straight'))
  result = _run(_args(workdir), env)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result.stderr


def test_the_command_line_run_logs_progress_and_no_backend_chatter(
    uninterrupted):
  workdir, log = uninterrupted
  with open(os.path.join(workdir, 'summary.json')) as f:
    assert json.load(f)['step'] == STEPS
  assert f'[{STEPS}/{STEPS} 100%]' in log
  # JAX's INFO line for each platform it probes and lacks (libtpu here).
  assert 'Unable to initialize backend' not in log


def test_kill_9_at_random_steps_then_resume_is_bit_identical(
    uninterrupted, tmp_path, env):
  workdir = str(tmp_path)
  rng = random.Random(0)
  kills = sorted(rng.sample(range(2, STEPS - 2), 3))  # also mid-save steps
  for step in kills:
    code, log = _run_until_step(_args(workdir), env, step, signal.SIGKILL)
    assert code == -signal.SIGKILL, log[-2000:]
  result = _run(_args(workdir), env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Resuming from checkpoint at step' in result.stderr
  straight, resumed = _final_arrays(uninterrupted[0]), _final_arrays(workdir)
  assert [p for p, _ in straight] == [p for p, _ in resumed]
  for (path, a), (_, b) in zip(straight, resumed):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))


def test_sigterm_saves_exits_nonzero_and_resumes(uninterrupted, tmp_path, env):
  workdir = str(tmp_path)
  code, log = _run_until_step(_args(workdir), env, 7, signal.SIGTERM)
  assert code != 0
  last_line = log.strip().splitlines()[-1]
  assert last_line.startswith('gan_jax: stopped by SIGTERM after step')
  assert 'run the same command to resume' in last_line
  assert 'Traceback' not in log
  with open(os.path.join(workdir, 'summary.json')) as f:
    summary = json.load(f)
  assert summary['status'] == 'preempted'
  stopped = summary['step']
  assert stopped >= 7 and summary['last_checkpoint_step'] == stopped
  # The next start resumes from the step it stopped at, and ends where an
  # uninterrupted run ends.
  result = _run(_args(workdir), env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resuming from checkpoint at step {stopped}' in result.stderr
  for (_, a), (_, b) in zip(_final_arrays(uninterrupted[0]),
                            _final_arrays(workdir)):
    np.testing.assert_array_equal(a, b)


def test_sigint_stops_the_same_way(tmp_path, env):
  code, log = _run_until_step(_args(str(tmp_path)), env, 5, signal.SIGINT)
  assert code != 0 and 'Traceback' not in log
  assert log.strip().splitlines()[-1].startswith(
      'gan_jax: stopped by SIGINT after step')


def test_same_config_and_seed_give_the_same_summary(tiny_config, tmp_path):
  tiny_config.num_train_steps = 4
  first = loop.train(tiny_config, str(tmp_path / 'a'))
  second = loop.train(tiny_config, str(tmp_path / 'b'))
  for key in ('g_param_norm', 'd_param_norm', 'd_loss', 'g_loss'):
    assert first[key] == second[key], key


def test_torn_save_leaves_the_previous_checkpoint_restorable(tiny_config,
                                                             tmp_path):
  tiny_config.num_train_steps = 4
  loop.train(tiny_config, str(tmp_path))
  # What a crash in the middle of saving step 6 leaves behind.
  torn = tmp_path / 'checkpoints' / '6.orbax-checkpoint-tmp-1795000000'
  (torn / 'default').mkdir(parents=True)
  (torn / 'default' / 'half_written').write_bytes(b'\x00' * 100)
  tiny_config.num_train_steps = 8
  summary = loop.train(tiny_config, str(tmp_path))
  assert summary['resumed_from_step'] == 4 and summary['step'] == 8


def test_divergence_stops_keeps_the_last_good_checkpoint(tiny_config,
                                                         tmp_path):
  tiny_config.num_train_steps = 4
  loop.train(tiny_config, str(tmp_path))
  tiny_config.num_train_steps = 12
  tiny_config.log_every_steps = 5
  tiny_config.optimizer.lr = 1e30  # NaN within a step or two
  with pytest.raises(signals.StopRun, match=r'diverged at step (5|6): \w+_loss '
                     r'is nan; the last checkpoint is step 4'):
    loop.train(tiny_config, str(tmp_path))
  with open(tmp_path / 'summary.json') as f:
    summary = json.load(f)
  assert summary['status'] == 'diverged'
  assert summary['diverged_at_step'] in (5, 6)
  assert summary['last_checkpoint_step'] == 4
  # Nothing after the divergence was saved.
  assert checkpoints.make_manager(str(tmp_path), 3).all_steps() == [2, 4]


def test_checkpoint_of_another_model_config_names_the_shapes(tiny_config,
                                                             tmp_path):
  tiny_config.num_train_steps = 2
  loop.train(tiny_config, str(tmp_path))
  tiny_config.model.base_width = 8
  with pytest.raises(checkpoints.CheckpointError) as error:
    loop.train(tiny_config, str(tmp_path))
  message = str(error.value)
  assert 'written by a different model config' in message
  assert ('players/d/params/Conv_0/kernel: checkpoint (4, 4, 1, 4) float32, '
          'config (4, 4, 1, 8) float32; players/g/params/ConvTranspose_0/kernel: '
          'checkpoint (4, 4, 16, 8) float32, config (4, 4, 32, 8) float32'
          ) in message


def test_workdir_that_is_not_writable(tiny_config, tmp_path):
  (tmp_path / 'a_file').write_text('x')
  with pytest.raises(errors.ConfigError,
                     match='--workdir .*a_file/run is not a writable'):
    loop.train(tiny_config, str(tmp_path / 'a_file' / 'run'))


def assert_no_thread_left(threads_before: set) -> None:
  """No thread started since ``threads_before`` is alive (each gets 10 s)."""
  left = set(threading.enumerate()) - threads_before
  for thread in left:
    thread.join(timeout=10)
  assert not [t.name for t in left if t.is_alive()]


def test_full_disk_during_save_is_one_error_and_keeps_the_previous(
    tiny_config, tmp_path, monkeypatch):
  tiny_config.num_train_steps = 6
  real_save = ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step == 4:
      raise OSError(errno.ENOSPC, 'No space left on device')
    return real_save(self, step, *args, **kwargs)
  monkeypatch.setattr(ocp.CheckpointManager, 'save', save)
  threads_before = set(threading.enumerate())
  with pytest.raises(checkpoints.CheckpointError,
                     match=r'saving the checkpoint of step 4 .* No space left '
                     r'on device\); the previous checkpoint, step 2, is intact'
                     ) as failure:
    loop.train(tiny_config, str(tmp_path))
  # The failed run closed its checkpoint manager, event writer and input
  # threads: while its error is held (its traceback keeps the run's frames,
  # as a notebook's last error does), none of them is left.
  assert failure.traceback
  assert_no_thread_left(threads_before)
  monkeypatch.undo()
  tiny_config.num_train_steps = 4
  summary = loop.train(tiny_config, str(tmp_path))
  assert summary['resumed_from_step'] == 2 and summary['step'] == 4


@pytest.fixture
def small_disk(tmp_path):
  """A 4 MB tmpfs, where this machine lets the tests mount one (root)."""
  disk = tmp_path / 'disk'
  disk.mkdir()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs',
                            str(disk)], capture_output=True, text=True)
  if mounted.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
  yield disk
  subprocess.run(['umount', '-l', str(disk)], check=False)


def _fill(disk):
  fd = os.open(disk / 'filler', os.O_WRONLY | os.O_CREAT)
  try:
    while True:
      os.write(fd, b'\0' * 65536)
  except OSError as e:
    assert e.errno == errno.ENOSPC
  finally:
    os.close(fd)


def test_really_full_disk_is_one_error_and_the_run_resumes(tiny_config,
                                                           small_disk):
  workdir = str(small_disk / 'run')
  tiny_config.num_train_steps = 2
  loop.train(tiny_config, workdir)
  _fill(small_disk)
  tiny_config.num_train_steps = 4
  with pytest.raises((signals.StopRun, checkpoints.CheckpointError),
                     match='No space left on device'):
    loop.train(tiny_config, workdir)
  os.remove(small_disk / 'filler')
  summary = loop.train(tiny_config, workdir)
  assert summary['resumed_from_step'] == 2 and summary['step'] == 4

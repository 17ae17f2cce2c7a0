"""The command line, as a user runs it."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', *args], cwd=ROOT,
      capture_output=True, text=True, timeout=timeout,
      env={**os.environ, 'JAX_PLATFORMS': 'cpu'})


def test_cli_smoke_run(tmp_path):
  result = _run('--config=configs/dcgan.py', f'--workdir={tmp_path}',
                '--config.num_train_steps=3', '--config.batch_size=16',
                '--config.model.base_width=4', '--config.log_every_steps=1',
                '--config.eval_metrics=()')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'summary.json') as f:
    assert json.load(f)['step'] == 3
  assert '[3/3 100%]' in result.stderr


def test_cli_bad_value_is_one_clear_error(tmp_path):
  result = _run('--config=configs/dcgan.py', f'--workdir={tmp_path}',
                '--config.loss=hing')
  assert result.returncode != 0
  assert "gan_jax: error: config.loss must be one of" in result.stderr
  assert 'Traceback' not in result.stderr


def test_cli_missing_folder(tmp_path):
  result = _run('--config=configs/dcgan.py:anime', f'--workdir={tmp_path}',
                f'--config.data.source=folder:{tmp_path}/nope')
  assert result.returncode != 0
  assert 'does not exist' in result.stderr and 'Traceback' not in result.stderr


def test_cli_unknown_preset_and_missing_workdir():
  result = _run('--config=configs/dcgan.py:imagenet', '--workdir=/tmp/unused')
  assert result.returncode != 0
  assert "gan_jax: error: ValueError: unknown preset 'imagenet'" in result.stderr
  assert 'Traceback' not in result.stderr
  result = _run('--config=configs/dcgan.py')
  assert result.returncode != 0 and '--workdir' in result.stderr


def test_cli_modes_need_a_checkpoint_and_a_family_that_has_them(tmp_path):
  result = _run('--config=configs/dcgan.py', f'--workdir={tmp_path}/none',
                '--mode=generate')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert f'gan_jax: error: no checkpoints in {tmp_path}/none/checkpoints' in (
      result.stderr)
  result = _run('--config=configs/toy_1d.py', f'--workdir={tmp_path}',
                '--mode=eval')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert 'gan_jax: error: --mode=eval: the toy toy_1d only trains' in (
      result.stderr)
  result = _run('--config=configs/dcgan.py', f'--workdir={tmp_path}',
                '--mode=translate')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert ("--mode=translate: config.family 'dcgan' has the modes ('train', "
          "'eval', 'generate', 'interpolate')") in result.stderr

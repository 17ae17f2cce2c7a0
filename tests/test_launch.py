"""The cloud and cluster launchers are not run here (no cloud, no cluster):
they must parse and pass shellcheck, and forward to the main job's real flags.
The one-machine table launcher runs, at tiny sizes."""

import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ['launch/tpu_vm.sh', 'launch/slurm_gpu.sbatch']
TABLE = 'launch/toy_2d_table.sh'  # one machine: no --distributed
FIGURES = 'scripts/make_figures.sh'  # the README's pictures


@pytest.mark.parametrize('script', [*SCRIPTS, TABLE, FIGURES])
def test_bash_parses(script):
  subprocess.run(['bash', '-n', os.path.join(ROOT, script)], check=True)


@pytest.mark.skipif(shutil.which('shellcheck') is None,
                    reason='shellcheck not installed')
def test_shellcheck():
  result = subprocess.run(['shellcheck', *SCRIPTS, TABLE, FIGURES], cwd=ROOT,
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stdout


def test_tpu_vm_usage_without_arguments():
  result = subprocess.run(['bash', os.path.join(ROOT, 'launch/tpu_vm.sh')],
                          capture_output=True, text=True)
  assert result.returncode == 2
  assert 'NAME ZONE ACCELERATOR_TYPE RUNTIME_VERSION GS_WORKDIR' in result.stderr


@pytest.mark.parametrize('script', SCRIPTS)
def test_launchers_pass_the_distributed_flag(script):
  with open(os.path.join(ROOT, script)) as f:
    text = f.read().replace('\\\n', ' ')
  assert 'python -m gan_jax.main --config=' in text
  assert '--distributed' in text.split('python -m gan_jax.main')[-1]


def _table(tmp_path, methods, *flags):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'WORKDIR': str(tmp_path),
         'METHODS': methods, 'MIXTURES': 'ring', 'STEPS': '30',
         'EVAL_EVERY': '10'}
  return subprocess.run(['bash', os.path.join(ROOT, TABLE), *flags], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=300)


def test_table_trains_each_row_then_writes_their_table(tmp_path):
  # The run test_toy_2d's interrupted run makes: the same compiled programs
  # (the suite's compile cache comes with os.environ, conftest.py).
  result = _table(tmp_path, 'gan', '--config.num_seeds=2',
                  '--config.model.g_hidden=(16, 16)',
                  '--config.model.d_hidden=(16,)', '--config.batch_size=20',
                  '--config.eval_num_samples=200')
  assert result.returncode == 0, result.stderr[-3000:]
  # The row trained in its own process, to the end, cut where asked...
  with open(tmp_path / 'ring' / 'gan' / 'trajectory.json') as f:
    assert [entry['step'] for entry in json.load(f)] == [10, 20, 30]
  assert 'toy_2d ring gan: {"step": 30' in (
      tmp_path / 'ring' / 'gan.log').read_text()
  # ...and the last run evaluated it, untrained, into the table.
  with open(tmp_path / 'ring' / 'summary.json') as f:
    summary = json.load(f)
  assert list(summary['methods']) == ['gan']
  assert summary['num_train_steps'] == 30
  table = (tmp_path / 'ring' / 'table.md').read_text()
  assert '| gan (ours) |' in table and table in result.stdout


def test_table_names_the_log_of_a_failed_row(tmp_path):
  result = _table(tmp_path, 'wgan')
  assert result.returncode == 1
  assert f'rows failed; see {tmp_path}/ring/wgan.log' in result.stderr
  assert 'config.method must be one of' in (
      tmp_path / 'ring' / 'wgan.log').read_text()
  assert not (tmp_path / 'ring' / 'table.md').exists()
  env = {**os.environ, 'WORKDIR': str(tmp_path), 'EVAL_EVERY': '0'}
  result = subprocess.run(['bash', os.path.join(ROOT, TABLE)], env=env,
                          capture_output=True, text=True)
  assert result.returncode == 2
  assert "EVAL_EVERY must be a positive number of steps, got '0'" in (
      result.stderr)

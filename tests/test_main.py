"""The command line, as a user runs it (one process each: kept few; the
training runs of tests/test_reliability.py are command-line runs too)."""

import os
import subprocess
import sys

import pytest

from gan_jax import modes
from gan_jax.core import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', *args], cwd=ROOT,
      capture_output=True, text=True, timeout=timeout,
      env={**os.environ, 'JAX_PLATFORMS': 'cpu'})


@pytest.mark.parametrize('args,message', [
    # Caught while parsing the command line (gan_jax/cli.py) ...
    (('--config.los=minimax',), "gan_jax: error: --config.los=minimax: "
     "configs/dcgan.py has no field 'los'; did you mean 'loss'?"),
    # ... and by a family's checks, once the run starts.
    (('--config.loss=hing',), 'gan_jax: error: config.loss must be one of'),
])
def test_cli_mistake_is_one_line(tmp_path, args, message):
  result = _run('--config=configs/dcgan.py', f'--workdir={tmp_path}', *args)
  assert result.returncode != 0
  assert result.stderr.strip().startswith(message), result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr
  assert not os.listdir(tmp_path)  # nothing written


def test_cli_help_exits_0_and_lists_the_configs():
  result = _run('--help')
  assert result.returncode == 0, result.stderr
  assert 'configs/dcgan.py:anime' in result.stdout
  assert '--show_config' in result.stdout


def test_missing_folder(tiny_config, tmp_path):
  tiny_config.data.source = f'folder:{tmp_path}/nope'
  with pytest.raises(errors.UserError, match='does not exist'):
    modes.run(tiny_config, str(tmp_path / 'run'))


def test_modes_need_a_checkpoint_and_a_family_that_has_them(tiny_config,
                                                             tmp_path):
  import toy_1d  # configs/toy_1d.py  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.UserError, match=(
      f'^no checkpoints in {tmp_path}/none/checkpoints')):
    modes.run(tiny_config, str(tmp_path / 'none'), 'generate')
  with pytest.raises(errors.UserError,
                     match='^--mode=eval: the toy toy_1d only trains'):
    modes.run(toy_1d.get_config(), str(tmp_path), 'eval')
  with pytest.raises(errors.UserError, match=(
      r"^--mode=translate: config.family 'dcgan' has the modes \('train', "
      r"'eval', 'generate', 'interpolate', 'inpaint'\)")):
    modes.run(tiny_config, str(tmp_path), 'translate')

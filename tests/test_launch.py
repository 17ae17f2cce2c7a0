"""The launchers are not run here (no cloud, no cluster): they must parse and
pass shellcheck, and forward to the main job's real flags."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ['launch/tpu_vm.sh', 'launch/slurm_gpu.sbatch']


@pytest.mark.parametrize('script', SCRIPTS)
def test_bash_parses(script):
  subprocess.run(['bash', '-n', os.path.join(ROOT, script)], check=True)


@pytest.mark.skipif(shutil.which('shellcheck') is None,
                    reason='shellcheck not installed')
def test_shellcheck():
  result = subprocess.run(['shellcheck', *SCRIPTS], cwd=ROOT,
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

import json
import os
import platform
import subprocess
import sys

import pytest

from gan_jax import bench, families
from gan_jax.core import host

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_step_and_pipeline(tiny_config):
  step = bench.bench_step(tiny_config, steps=2, warmup=1)
  assert step['images_per_s'] > 0 and step['compile_s'] > 0
  assert step['step_ms'] == pytest.approx(
      1e3 * tiny_config.batch_size / step['images_per_s'])
  pipeline = bench.bench_pipeline(tiny_config, steps=3, warmup=1)
  assert pipeline['pipeline_images_per_s'] > 0
  assert pipeline['source'] == 'digits'


def test_bare_attribute_source_gets_a_stand_in():
  import stargan  # configs/stargan.py  # pylint: disable=g-import-not-at-top
  config = stargan.get_config('celeba')
  config.image_size, config.model.d_layers = 16, 4
  assert config.data.source == 'attributes:'
  bench.stand_in_source(config)
  family = families.get('stargan')
  family.validate(config)
  batch = bench.synthetic_batch(family(config), 4)
  assert batch['image'].shape == (5, 4, 16, 16, 3)  # d_steps minibatches
  assert batch['attributes'].shape == (5, 4, len(config.data.attributes))


def test_bench_cli_prints_one_json_line():
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.bench',
       '--config=configs/dcgan.py:conditional',
       '--steps=1', '--warmup=0', '--config.batch_size=8',
       '--keep_freed_memory',
       '--config.model.base_width=4'], cwd=ROOT, capture_output=True,
      text=True, timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert result.returncode == 0, result.stderr[-2000:]
  line = json.loads(result.stdout.strip().splitlines()[-1])
  for key in ('images_per_s', 'step_ms', 'compile_s', 'batch_size',
              'image_size', 'device', 'dtype'):
    assert key in line, key
  assert line['batch_size'] == 8 and line['device'].startswith('cpu')
  assert line['family'] == 'conditional_dcgan'  # its batches carry labels
  # Taken by glibc, in the bench's own process: mallopt in this one would
  # set the allocator for the rest of the suite.
  assert line['keep_freed_memory'] is (
      platform.libc_ver()[0] == 'glibc' and line['malloc'] == 'glibc')


def test_allocator_names_a_preloaded_malloc(tmp_path):
  maps = tmp_path / 'maps'
  line = '7f00-7f01 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/{}\n'
  maps.write_text(line.format('libc.so.6'))
  assert host.allocator(str(maps)) == 'glibc'
  maps.write_text(line.format('libc.so.6') + line.format('libjemalloc.so.2'))
  assert host.allocator(str(maps)) == 'jemalloc'
  maps.write_text(line.format('libtcmalloc_minimal.so.4'))
  assert host.allocator(str(maps)) == 'tcmalloc'
  assert host.allocator(str(tmp_path / 'absent')) == 'unknown'

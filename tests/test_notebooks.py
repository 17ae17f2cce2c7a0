"""The notebooks execute top to bottom (with short runs)."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('name,env', [
    # tests/test_toy_1d.py's short run: the same training program.
    ('toy_1d.ipynb', {'TOY_1D_STEPS': '400', 'TOY_1D_SNAPSHOTS': '4',
                      'TOY_1D_BATCH': '128'}),
    # tests/test_toy_2d.py's tiny_config: the same programs, compiled once
    # for both (the suite's compile cache, conftest.py).
    ('toy_2d.ipynb', {'TOY_2D_STEPS': '30', 'TOY_2D_SEEDS': '3',
                      'TOY_2D_SMALL': '1'}),
])
def test_notebook_executes(name, env, monkeypatch):
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  monkeypatch.setenv('PYTHONPATH', ROOT + os.pathsep + os.environ.get(
      'PYTHONPATH', ''))
  notebook = nbformat.read(os.path.join(ROOT, 'notebooks', name), as_version=4)
  NotebookClient(notebook, timeout=300, kernel_name='python3',
                 resources={'metadata': {'path': os.path.join(ROOT,
                                                              'notebooks')}}
                 ).execute()
  outputs = [o for cell in notebook.cells if cell.cell_type == 'code'
             for o in cell.get('outputs', [])]
  assert not [o for o in outputs if o.get('output_type') == 'error']
  assert any(o.get('output_type') == 'display_data' for o in outputs)

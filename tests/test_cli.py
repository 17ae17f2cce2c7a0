"""The command line parsed in-process: every mistake is one line, --help and
--show_config are generated from the config files."""

import os

from absl import flags
import pytest

from gan_jax import cli, config_docs
from gan_jax.core import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILES = tuple(f'configs/{name}' for name in sorted(os.listdir(
    os.path.join(ROOT, 'configs'))) if name.endswith('.py'))


@pytest.fixture(autouse=True)
def in_root(monkeypatch):
  monkeypatch.chdir(ROOT)  # the README's commands run in the checkout


def _parse(*args):
  argv = ['gan_jax.main', *args]
  flag_values = flags.FlagValues()
  cli.define_flags(flag_values, sys_argv=argv)
  cli.parse(argv, flag_values)
  return flag_values


@pytest.mark.parametrize('args,message', [
    (('--config.los=minimax',),
     "--config.los=minimax: configs/dcgan.py has no field 'los'; did you "
     "mean 'loss'?"),
    (('--config.model.base_widht=8',),
     "--config.model.base_widht=8: configs/dcgan.py has no field "
     "'base_widht'; did you mean 'base_width'?"),
    (('--config.batch_size=abc',),
     "--config.batch_size=abc: invalid literal for int() with base 10: "
     "'abc'; config.batch_size is an integer (default 128)"),
    (('--config.model.spectral_norm=yes',),
     '--config.model.spectral_norm=yes: not a boolean (true or false); '
     'config.model.spectral_norm is a boolean (default False)'),
    (('--bogus=1',), "Unknown command line flag 'bogus' (see --help)"),
    (('extra',), 'unexpected arguments extra'),
])
def test_mistakes_are_one_line(args, message):
  with pytest.raises(cli.UsageError) as raised:
    _parse('--config=configs/dcgan.py', '--workdir=/tmp/unused', *args)
  assert message in str(raised.value)
  assert '\n' not in str(raised.value)


@pytest.mark.parametrize('config,message', [
    ('configs/nope.py', '--config=configs/nope.py: no config file '
     'configs/nope.py (the config files: configs/context_encoder.py, '
         'configs/cyclegan.py, '
     'configs/dcgan.py, configs/gawwn.py, configs/pix2pix.py'),
    ('configs/dcgan.py:imagenet', "--config=configs/dcgan.py:imagenet: "
     "unknown preset 'imagenet' for configs/dcgan.py; its presets: digits, "
     'anime'),
])
def test_config_file_mistakes_are_one_line(config, message):
  with pytest.raises(cli.UsageError, match='^' + message.replace('(', r'\(')):
    _parse(f'--config={config}', '--workdir=/tmp/unused')


def test_broken_config_files_name_file_and_line(tmp_path):
  syntax = tmp_path / 'syntax.py'
  syntax.write_text('import ml_collections\n\ndef get_config(:\n  pass\n')
  with pytest.raises(cli.UsageError,
                     match=f'{syntax} line 3: invalid syntax$'):
    _parse(f'--config={syntax}', '--workdir=/tmp/unused')
  body = tmp_path / 'body.py'
  body.write_text('def get_config(preset=None):\n  return undefined_name\n')
  with pytest.raises(cli.UsageError, match=f"{body} line 2: NameError: name "
                     "'undefined_name' is not defined$"):
    _parse(f'--config={body}', '--workdir=/tmp/unused')


def test_required_flags():
  with pytest.raises(cli.UsageError, match='^--config is required'):
    _parse('--workdir=/tmp/unused')
  with pytest.raises(cli.UsageError, match='^--workdir is required'):
    _parse('--config=configs/dcgan.py')
  # --show_config needs no workdir; overrides are applied.
  parsed = _parse('--config=configs/dcgan.py:anime', '--show_config',
                  '--config.batch_size=64')
  listing = cli.show_config(parsed)
  assert listing.startswith("configs/dcgan.py:anime (family 'dcgan')")
  assert '\n  batch_size = 64\n' in listing
  assert "\n  data.source = 'folder:'\n" in listing


def test_a_near_miss_value_gets_a_suggestion():
  with pytest.raises(errors.ConfigError, match=r"^config.loss must be one of "
                     r"\(.*\), got 'hing' \(did you mean 'hinge'\?\)$"):
    errors.check('hing', 'loss', ('hinge', 'minimax'))


def test_help_lists_every_config_file_and_preset():
  flag_values = flags.FlagValues()
  cli.define_flags(flag_values)
  text = cli.help_text(flag_values)
  lines = text.splitlines()
  for path in CONFIG_FILES:
    module = config_docs.load_module(path)
    names = list(config_docs.presets(module))
    assert names  # the first is the default
    # The file alone is the default preset; the others one line each.
    assert sum(line.split()[:1] == [path] for line in lines) == 1
    for preset in names[1:]:
      assert sum(line.split()[:1] == [f'{path}:{preset}']
                 for line in lines) == 1, preset
  names = cli.flag_names(flag_values)
  assert names[:2] == ['config', 'workdir'] and 'show_config' in names
  for name in names:
    assert f'  --{name}: ' in text
  full = cli.help_text(flag_values, full=True)  # --helpfull: absl's as well
  assert full.startswith(text.rsplit('\n', 1)[0])
  assert flag_values.get_help() in full
  assert cli.help_requested(['m', '--config=configs/dcgan.py', '--help'])
  assert cli.help_requested(['m', '--helpfull'])
  assert not cli.help_requested(['m', '--', '--help'])


@pytest.mark.parametrize('path', CONFIG_FILES)
def test_every_field_of_every_preset_is_documented(path):
  """The listing cannot drift: values come from get_config, docs from the
  file's comments; a field without a comment fails here."""
  module = config_docs.load_module(path)
  docs = config_docs.field_docs(module.get_config)
  for preset in config_docs.presets(module):
    config = module.get_config(preset)
    listing = config_docs.show(path, preset, config)
    for field, value in config_docs.leaves(config).items():
      assert docs.get(field), f'{path}:{preset}: config.{field} has no comment'
      assert f'\n  {field} = {value!r}\n' in listing + '\n', field


def test_field_docs_read_comments_above_and_inline(tmp_path):
  path = tmp_path / 'documented.py'
  path.write_text('''
import ml_collections
from gan_jax.core import optim

def get_config(preset=None):
  config = ml_collections.ConfigDict()
  # Two lines
  # above.
  config.a = 1  # and inline
  config.sub = ml_collections.ConfigDict()

  config.sub.b = 'x'
  # A comment with a blank line after it documents nothing.

  config.c = 2
  config.optimizer = optim.optimizer_config(lr=1.0)
  if preset == 'other':
    config.c = 3  # the doc of a later assignment fills an empty one
  return config
''')
  docs = config_docs.field_docs(config_docs.load_module(str(path)).get_config)
  assert docs['a'] == 'Two lines above. and inline'
  assert docs['sub.b'] == ''
  assert docs['c'] == 'the doc of a later assignment fills an empty one'
  assert docs['optimizer.b1'] == "Adam's beta1"
  assert list(docs)[:4] == ['a', 'sub', 'sub.b', 'c']

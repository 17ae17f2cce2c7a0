"""The command line's flags, its --help and --show_config, and its errors:
every mistake on the command line is one line (``UsageError``), no traceback.

Flags are defined on a ``FlagValues`` passed in (absl's global one in
``gan_jax.main``, a fresh one per test), so parsing is testable in-process.
"""

from __future__ import annotations

import re
import textwrap

from absl import flags
from ml_collections import config_flags

from gan_jax import config_docs
from gan_jax.core import errors

USAGE = ('python -m gan_jax.main --config=configs/FILE.py[:PRESET] '
         '--workdir=DIR [--config.FIELD=VALUE ...] [--mode=MODE]')
HELP_FLAGS = ('-h', '-help', '--help', '--helpshort', '-?', '--helpfull')


_KINDS = {bool: 'a boolean', int: 'an integer', float: 'a number',
          str: 'a string', tuple: 'a tuple'}


class UsageError(errors.UserError):
  """A mistake on the command line, told in one line."""


def define_flags(flag_values: flags.FlagValues, sys_argv=None) -> None:
  """The command line's flags on ``flag_values``; ``sys_argv``: the argv the
  config overrides are read from (None: sys.argv, as absl does)."""
  config_flags.DEFINE_config_file(
      'config', None, 'Config file, optionally with a preset: '
      'configs/dcgan.py:anime. Its fields are set with --config.FIELD=VALUE.',
      flag_values=flag_values, lock_config=True, sys_argv=sys_argv)
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints, samples '
                      'and logs; an existing run there is resumed.',
                      flag_values=flag_values)
  flags.DEFINE_string('mode', 'train', "What to do with the workdir's run: "
                      "train, eval, or one of the family's modes (DCGAN: "
                      'generate, interpolate, inpaint; pix2pix: translate; '
                      'context_encoder: inpaint).', flag_values=flag_values)
  flags.DEFINE_string('output', None, "Folder for a family's mode (default: "
                      'WORKDIR/MODE, e.g. WORKDIR/generate).',
                      flag_values=flag_values)
  flags.DEFINE_string('input', None, "Folder of images for a family's mode "
                      'that reads them (pix2pix: --mode=translate; '
                      '--mode=inpaint, which otherwise fills '
                      'data.eval_source).',
                      flag_values=flag_values)
  flags.DEFINE_bool('show_config', False, "Print the config's fields (with "
                    'the preset and --config.FIELD overrides applied), their '
                    'values and what each means, then exit.',
                    flag_values=flag_values)
  flags.DEFINE_bool('keep_freed_memory', False, "Set glibc's malloc to keep "
                    'freed memory mapped (gan_jax.core.host): XLA:CPU '
                    'allocates every step afresh, and on large models page '
                    'faults can take half a step. Off by default: glibc\'s '
                    'heap then fragments and grows, and compiles run ~12% '
                    'slower; a preloaded jemalloc or tcmalloc does better '
                    '(docs/training.md).', flag_values=flag_values)
  flags.DEFINE_bool('distributed', False, 'jax.distributed.initialize() with '
                    'the cluster auto-detected (Cloud TPU VM slices, SLURM); '
                    'implied by --coordinator_address and by SLURM_NTASKS > '
                    '1.', flag_values=flag_values)
  flags.DEFINE_string('coordinator_address', None, 'host:port of process 0, '
                      'for a multi-process run outside TPU VMs and SLURM.',
                      flag_values=flag_values)
  flags.DEFINE_integer('num_processes', None, 'Processes of a multi-process '
                       'run (with --coordinator_address).',
                       flag_values=flag_values)
  flags.DEFINE_integer('process_id', None, 'This process (with '
                       '--coordinator_address).', flag_values=flag_values)


def flag_names(flag_values: flags.FlagValues) -> list[str]:
  """The flags ``define_flags`` defined, in its order (--help's)."""
  return [flag.name for flag in flag_values.get_flags_for_module(__name__)]


def help_requested(argv) -> bool:
  args = list(argv[1:])
  if '--' in args:
    args = args[:args.index('--')]
  return any(arg in HELP_FLAGS for arg in args)


def help_text(flag_values: flags.FlagValues, width: int = 79,
              full: bool = False) -> str:
  """--help: usage, the config files with their presets, our flags (and
  with ``full``, --helpfull: every flag absl knows too)."""
  lines = ['gan_jax: generative adversarial networks in JAX/Flax.', '',
           f'Usage: {USAGE}', '',
           'Config files and presets (--config=FILE or FILE:PRESET; the '
           'first preset is the default):', config_docs.listing(), '',
           "A config's fields, their defaults and what each means:",
           '  python -m gan_jax.main --config=configs/dcgan.py:anime '
           '--show_config', '', 'Flags:']
  for name in flag_names(flag_values):
    flag = flag_values[name]
    default = '' if flag.default in (None, '') else (
        f' (default: {flag.default})')
    lines.append(textwrap.fill(f'--{name}: {flag.help}{default}', width,
                               initial_indent='  ',
                               subsequent_indent='      '))
  if full:
    lines += ['', "absl's flags:", flag_values.get_help()]
  else:
    lines += ['', "--helpfull lists absl's logging flags as well."]
  return '\n'.join(lines)


def _config_argument(argv) -> str | None:
  """The --config value (None: no --config)."""
  for i, arg in enumerate(argv):
    if arg == '--':
      break
    match = re.fullmatch(r'--?config(=(.*))?', arg)
    if match:
      if match.group(1) is not None:
        return match.group(2)
      return argv[i + 1] if i + 1 < len(argv) else ''
  return None


def split_config_argument(value: str) -> tuple[str, str]:
  """'configs/dcgan.py:anime' -> ('configs/dcgan.py', 'anime')."""
  path, _, preset = value.partition(':')
  return path, preset


def parse(argv, flag_values: flags.FlagValues) -> list[str]:
  """Parses ``argv`` into ``flag_values``; any mistake is one UsageError."""
  value = _config_argument(argv)
  defaults = None
  if value:
    # Our own load first: a missing file, a syntax error or an unknown
    # preset is then named plainly (config_flags nests them in tracebacks).
    try:
      defaults = config_docs.get_config(*split_config_argument(value))
    except errors.ConfigError as e:
      raise UsageError(f'--config={value}: {e}') from None
  try:
    rest = flag_values(argv)
  except Exception as e:  # pylint: disable=broad-except
    raise UsageError(_one_line(e, argv, value, defaults)) from None
  if not value:
    raise UsageError('--config is required, e.g. --config=configs/dcgan.py '
                     '(--help lists the config files)')
  if len(rest) > 1:
    raise UsageError(f'unexpected arguments {" ".join(rest[1:])} (flags are '
                     '--NAME=VALUE; see --help)')
  if not flag_values.show_config and not flag_values.workdir:
    raise UsageError('--workdir is required: the directory for the run '
                     "(checkpoints, samples, logs); an existing run there "
                     'is resumed')
  return rest


def _one_line(error: BaseException, argv, config_value, defaults) -> str:
  """A parse error as one line that names the argument at fault."""
  # An unknown field: config_flags raises AttributeError(KeyError("'los'\n
  # Did you mean "loss" instead of "los"?")) or KeyError('zzz').
  inner = error
  while inner.args and isinstance(inner.args[0], BaseException):
    inner = inner.args[0]
  if isinstance(inner, (KeyError, AttributeError)) and inner.args:
    text = str(inner.args[0])
    field = text.split('\n')[0].strip('\'"')
    suggestion = re.search(r'Did you mean "([\w.]+)"', text)
    argument = next((arg for arg in argv if re.match(
        rf'--?(no)?config\.([\w.]*\.)?{re.escape(field)}(=|$)', arg)),
                    f'--config.{field}')
    hint = f'; did you mean {suggestion.group(1)!r}?' if suggestion else ''
    return (f'{argument}: {config_value} has no field {field!r}{hint} '
            f'(--config={config_value} --show_config lists them)')
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  line = lines[-1] if lines else type(error).__name__
  if not isinstance(error, flags.Error):
    return f'{type(error).__name__}: {line}'
  # absl: 'flag --config.batch_size=abc: invalid literal for int() ...'.
  override = re.match(r'flag (--?config\.([\w.]+)=.*?): (.*)$', line)
  if override and defaults is not None:
    argument, field, reason = override.groups()
    if 'Non-boolean argument' in reason:
      reason = 'not a boolean (true or false)'
    try:
      default = defaults
      for part in field.split('.'):
        default = default[part]
      kind = _KINDS.get(type(default), f'a {type(default).__name__}')
      reason += f'; config.{field} is {kind} (default {default!r})'
    except (KeyError, TypeError):
      pass
    return f'{argument}: {reason}'
  line = re.sub(r'^flag (--\S+): ', r'\1: ', line)
  if line.startswith('Unknown command line flag'):
    line += ' (see --help)'
  return line


def show_config(flag_values: flags.FlagValues) -> str:
  """--show_config: the parsed config's fields and their documentation."""
  path, preset = split_config_argument(
      config_flags.get_config_filename(flag_values['config']))
  return config_docs.show(path, preset, flag_values.config)

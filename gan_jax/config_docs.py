"""The config files, read for people: their presets, and every field's value
with the comment that documents it in the file (``--help``, ``--show_config``).

The documentation is the config file's own source: a field's doc is the
block of ``#`` lines directly above its assignment, and/or the comment at the
end of the assignment's line. Fields built by a helper (``config.optimizer =
optim.optimizer_config(...)``) are documented in that helper's source, read
the same way. Nothing is copied, so the listing cannot drift from the files.
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import textwrap
import tokenize
import types

from gan_jax.core import errors

# Where ``--config=configs/NAME.py`` looks: the working directory's configs/
# (the README's commands run in a checkout) or the one next to the package.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_dir() -> str:
  here = os.path.join(os.getcwd(), 'configs')
  return here if os.path.isdir(here) else os.path.join(_PACKAGE_PARENT,
                                                       'configs')


def config_files() -> list[str]:
  """The config files (paths as a user types them, relative when possible)."""
  folder = config_dir()
  if not os.path.isdir(folder):
    return []
  shown = os.path.relpath(folder) if folder.startswith(os.getcwd()) else folder
  return [os.path.join(shown, name) for name in sorted(os.listdir(folder))
          if name.endswith('.py') and not name.startswith('_')]


def load_module(path: str) -> types.ModuleType:
  """Executes a config file; a missing file, a syntax error or an error in
  its body is one ``ConfigError`` naming the file (and line)."""
  if not os.path.isfile(path):
    known = ', '.join(config_files()) or 'none found'
    raise errors.ConfigError(f'no config file {path} (the config files: '
                             f'{known})')
  with open(path) as f:
    source = f.read()
  try:
    code = compile(source, path, 'exec')
  except SyntaxError as e:
    raise errors.ConfigError(f'{path} line {e.lineno}: {e.msg}') from None
  name = '_gan_jax_config_' + os.path.splitext(os.path.basename(path))[0]
  module = types.ModuleType(name)
  module.__file__ = path
  try:
    exec(code, module.__dict__)  # pylint: disable=exec-used
  except Exception as e:  # pylint: disable=broad-except
    raise errors.ConfigError(_where(e, path)) from None
  if not callable(getattr(module, 'get_config', None)):
    raise errors.ConfigError(f'{path} defines no get_config()')
  return module


def _where(error: BaseException, path: str) -> str:
  """'FILE line N: Type: message' at the deepest frame in ``path``."""
  line = None
  for frame, lineno in _frames(error.__traceback__):
    if os.path.abspath(frame.f_code.co_filename) == os.path.abspath(path):
      line = lineno
  message = f'{type(error).__name__}: {error}'
  return f'{path} line {line}: {message}' if line else f'{path}: {message}'


def _frames(tb):
  while tb is not None:
    yield tb.tb_frame, tb.tb_lineno
    tb = tb.tb_next


def presets(module) -> dict[str, str]:
  """A config file's presets, name -> one line; the first is the default."""
  found = getattr(module, 'PRESETS', None)
  if isinstance(found, dict):
    return dict(found)
  return {name: '' for name in (found or ())}


def get_config(path: str, preset: str):
  """``get_config(preset)`` of a config file; an unknown preset is one error
  that lists the file's presets."""
  module = load_module(path)
  known = presets(module)
  if preset and known and preset not in known:
    raise errors.ConfigError(
        f'unknown preset {preset!r} for {path}; its presets: '
        f'{", ".join(known)}')
  try:
    return module.get_config(preset or None)
  except Exception as e:  # pylint: disable=broad-except
    raise errors.ConfigError(_where(e, path)) from None


def field_docs(function) -> dict[str, str]:
  """Dotted field -> its comment, for the fields ``function`` assigns.

  ``function`` builds a ConfigDict in a local variable (the one it returns);
  ``VAR.a.b = ...`` documents field ``a.b``. Fields come in the order of
  their first assignment; where one is assigned several times (defaults,
  then presets), the first comment found is its doc ('' where none is).
  """
  lines, _ = inspect.getsourcelines(function)
  source = textwrap.dedent(''.join(lines))
  comments = _comments(source)
  tree = ast.parse(source)
  body = tree.body[0]
  returned = [node.value.id for node in ast.walk(body)
              if isinstance(node, ast.Return) and
              isinstance(node.value, ast.Name)]
  if not returned:
    return {}
  root = returned[-1]
  docs: dict[str, str] = {}
  assignments = sorted((node for node in ast.walk(body)
                        if isinstance(node, ast.Assign)),
                       key=lambda node: node.lineno)
  for node in assignments:
    for target in node.targets:
      for element in (target.elts if isinstance(target, ast.Tuple)
                      else [target]):
        field = _dotted(element, root)
        if field is None:
          continue
        if not docs.get(field):  # first assignment: the order; any: the doc
          docs[field] = _doc_of(node, comments)
        helper = _helper(node.value, function)
        if helper is not None:
          for sub, sub_doc in field_docs(helper).items():
            docs.setdefault(f'{field}.{sub}', sub_doc)
  return docs


def _comments(source: str) -> dict[int, tuple[str, bool]]:
  """Line -> (comment text, whether the comment is the whole line)."""
  found = {}
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.COMMENT:
      whole = not token.line[:token.start[1]].strip()
      text = token.string.lstrip('#').strip()
      if not text.startswith(('pylint:', 'pytype:', 'type:')):
        found[token.start[0]] = (text, whole)
  return found


def _doc_of(node: ast.Assign, comments) -> str:
  above = []
  line = node.lineno - 1
  while line in comments and comments[line][1]:
    above.append(comments[line][0])
    line -= 1
  parts = list(reversed(above))
  inline = comments.get(node.end_lineno)
  if inline and not inline[1]:
    parts.append(inline[0])
  return ' '.join(part for part in parts if part)


def _dotted(node, root: str) -> str | None:
  names = []
  while isinstance(node, ast.Attribute):
    names.append(node.attr)
    node = node.value
  if isinstance(node, ast.Name) and node.id == root and names:
    return '.'.join(reversed(names))
  return None


def _helper(value, function):
  """The function a field's value is built by (``optim.optimizer_config``),
  when it is a plain Python function of this project."""
  if not isinstance(value, ast.Call):
    return None
  names = []
  node = value.func
  while isinstance(node, ast.Attribute):
    names.append(node.attr)
    node = node.value
  if not isinstance(node, ast.Name):
    return None
  found = function.__globals__.get(node.id)
  for name in reversed(names):
    found = getattr(found, name, None)
  if inspect.isfunction(found) and found.__module__.startswith('gan_jax'):
    return found
  return None


def leaves(config, prefix: str = '') -> dict:
  """Dotted field -> value for every non-dict field (ConfigDict's order)."""
  found = {}
  for name, value in config.items():
    if hasattr(value, 'items'):
      found.update(leaves(value, f'{prefix}{name}.'))
    else:
      found[f'{prefix}{name}'] = value
  return found


def describe(config, docs: dict[str, str], title: str, width: int = 79
             ) -> str:
  """Every field as ``name = value`` over its wrapped doc, in the order the
  config file assigns them."""
  order = {field: i for i, field in enumerate(docs)}
  fields = sorted(leaves(config).items(),
                  key=lambda item: order.get(item[0], len(order)))
  lines = [title]
  for field, value in fields:
    lines.append(f'  {field} = {value!r}')
    doc = docs.get(field, '')
    lines += textwrap.wrap(doc, width, initial_indent=' ' * 6,
                           subsequent_indent=' ' * 6)
  return '\n'.join(lines)


def show(path: str, preset: str, config) -> str:
  """--show_config: the fields of ``config`` (a config file's, overrides
  applied) with the file's documentation."""
  module = load_module(path)
  name = f'{path}:{preset}' if preset else path
  title = (f'{name} (family {config.get("family", "?")!r}); set a field with '
           '--config.FIELD=VALUE')
  return describe(config, field_docs(module.get_config), title)


def listing() -> str:
  """Every config file and preset, one line each (for --help)."""
  rows = []
  for path in config_files():
    try:
      module = load_module(path)
    except errors.ConfigError as e:
      rows.append((path, f'(does not load: {e})'))
      continue
    known = presets(module)
    for i, (preset, about) in enumerate(known.items()):
      # The file alone is its first preset.
      rows.append((path, f'(:{preset}) {about}') if i == 0 else
                  (f'{path}:{preset}', about))
    if not known:
      rows.append((path, (module.__doc__ or '').strip().split('\n')[0]))
  column = max((len(name) for name, _ in rows), default=0)
  return '\n'.join(f'  {name:<{column}}  {about}'.rstrip()
                   for name, about in rows)

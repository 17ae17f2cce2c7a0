"""GAWWN: the what-where digits, the checks that score them, the box warp,
the caption encoder and its loss, GAN-CLS's loss, a tiny run and the
generate mode."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from gan_jax import modes
from gan_jax.core import errors
from gan_jax.core import loop
from gan_jax.data import sources
from gan_jax.families.gawwn import faces, models, scoring, step, text
from gan_jax.families.gawwn import whatwhere

KEY = jax.random.PRNGKey(0)
SGD = optax.sgd(1e-3)


def test_whatwhere_digits_are_deterministic_split_and_say_what_they_show():
  train = whatwhere.make_source('train', 64, seed=3, canvases_per_image=2)
  test = whatwhere.make_source('test', 64, seed=3, canvases_per_image=2)
  again = whatwhere.make_source('train', 64, seed=3, canvases_per_image=2)
  indices = np.array([5, 0, 2000])
  first, second = train.load(indices), again.load(indices[::-1])
  for field in first:
    np.testing.assert_array_equal(first[field], second[field][::-1])
  other_seed = whatwhere.make_source('train', 64, seed=4).load(indices)
  assert not np.array_equal(other_seed['box'], first['box'])
  batch = test.load(np.arange(64))
  for caption, content, box in zip(batch['caption'], batch['content'],
                                   batch['box']):
    words = whatwhere.decode(caption)
    digit, colour, size, place = content
    assert (str(digit) in words.split()
            or whatwhere.DIGIT_WORDS[digit] in words.split()), words
    assert any(w in words for w in
               whatwhere.COLOUR_WORDS[whatwhere.COLOUR_NAMES[colour]]), words
    assert any(w in words.split() for w in whatwhere.SIZE_WORDS[size]), words
    assert size == whatwhere.size_class(box[3])
    assert place == whatwhere.place_class(box)
  # The contrast caption is the same sentence naming another digit.
  def without_digit(words):
    kept = [w for w in words.split() if w not in ('a', 'an')
            and not w.isdigit() and w not in whatwhere.DIGIT_WORDS]
    named = [w for w in words.split() if w.isdigit()
             or w in whatwhere.DIGIT_WORDS]
    return kept, named

  for caption, contrast, content in zip(
      batch['caption'], batch['contrast_caption'], batch['content']):
    kept, named = without_digit(whatwhere.decode(caption))
    kept_contrast, named_contrast = without_digit(whatwhere.decode(contrast))
    assert kept == kept_contrast and len(named_contrast) == 1
    assert named != named_contrast
  # Test captions use the held-out phrasings, training captions never do.
  test_words = {whatwhere.decode(c) for c in batch['caption']}
  train_words = {whatwhere.decode(c) for c in train.load(
      np.arange(200))['caption']}
  assert any(' that is ' in w or ' in ' + n in w for w in test_words
             for n in ('red', 'scarlet', 'green', 'emerald', 'blue', 'navy',
                       'yellow', 'golden', 'cyan', 'turquoise', 'magenta',
                       'purple'))
  assert not any(' that is ' in w for w in train_words)
  # Test digits are the digits classifier's held-out scans.
  assert train.num_examples == 1438 * 2 and test.num_examples == 359 * 2


def test_real_canvases_pass_the_checks_and_controls_fail(
    digits_classifier_cache):
  classifier, _ = digits_classifier_cache
  data = whatwhere.make_source('test', 64).load(np.arange(300))
  classify = lambda x: classifier.apply(x)[0]  # noqa: E731
  checks = scoring.score(classify, data['image'], data['box'],
                         data['content'])
  assert np.mean(checks['what']) > 0.9
  assert np.mean(checks['colour']) == 1.0
  assert np.mean(checks['where_iou']) > 0.9
  other = np.roll(np.arange(300), 150)
  shuffled = scoring.score(classify, data['image'], data['box'],
                           data['content'][other])
  assert np.mean(shuffled['what']) < 0.3
  assert np.mean(shuffled['colour']) < 0.4
  assert np.mean(scoring.iou(scoring.ink_boxes(data['image']),
                             data['box'][other])) < 0.4


def test_iou_and_ink_box_by_hand():
  a = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5],
                [0.0, 0.0, 0.2, 0.2]])
  b = np.array([[0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5],
                [0.5, 0.5, 0.2, 0.2]])
  np.testing.assert_allclose(scoring.iou(a, b),
                             [0.0625 / (0.25 + 0.25 - 0.0625), 1.0, 0.0])
  canvas = np.zeros((2, 8, 8, 3), np.uint8)
  canvas[0, 2:5, 1:7, 2] = 200  # rows 2-4, columns 1-6
  canvas[0, 6, 6, 0] = 30  # below INK_THRESHOLD: background
  np.testing.assert_allclose(scoring.ink_boxes(canvas),
                             [[1 / 8, 2 / 8, 6 / 8, 3 / 8], [0, 0, 0, 0]])
  colours = np.stack([whatwhere.render(np.ones((3, 2)), [0.2, 0.2, 0.5, 0.5],
                                       k, 16) for k in range(6)])
  np.testing.assert_array_equal(scoring.ink_colours(colours), np.arange(6))
  assert scoring.ink_colours(canvas[1:])[0] == -1


def test_box_warp_places_and_crops_by_hand():
  n = 1
  boxes = jnp.array([[0.25, 0.5, 0.5, 0.25]])  # x, y, w, h
  # Placing a constant map: ones inside the box, zeros outside (a 16 grid,
  # pixel centres at i / 15 of the canvas; the sampler is bilinear, so the
  # box's edge pixels are partly covered).
  placed = models.sample_bilinear(jnp.ones((n, 16, 16, 1)),
                                  models.place_grid(boxes))[0, ..., 0]
  centres = np.arange(16) / 15
  inside_x = (centres > 0.25 + 1 / 15) & (centres < 0.75 - 1 / 15)
  inside_y = (centres > 0.5 + 1 / 15) & (centres < 0.75 - 1 / 15)
  outside_x = (centres < 0.25 - 1 / 15) | (centres > 0.75 + 1 / 15)
  outside_y = (centres < 0.5 - 1 / 15) | (centres > 0.75 + 1 / 15)
  np.testing.assert_allclose(placed[np.ix_(inside_y, inside_x)], 1.0,
                             atol=1e-6)
  assert np.all(np.asarray(placed)[outside_y] == 0)
  assert np.all(np.asarray(placed)[:, outside_x] == 0)
  # The identity grid reads every pixel back.
  features = jax.random.normal(KEY, (n, 16, 16, 3))
  whole = models.crop_grid(jnp.array([[0.0, 0.0, 1.0, 1.0]]))
  np.testing.assert_allclose(models.sample_bilinear(features, whole),
                             features, atol=1e-5)
  # Cropping a ramp: the crop of columns [x, x + w] is that linear range.
  ramp = jnp.broadcast_to(jnp.linspace(-1, 1, 16)[None, None, :, None],
                          (n, 16, 16, 1))
  crop = models.sample_bilinear(ramp, models.crop_grid(boxes))[0, 0, :, 0]
  np.testing.assert_allclose(crop, np.linspace(2 * 0.25 - 1, 2 * 0.75 - 1,
                                               16), atol=1e-5)
  # Placing then cropping by the same box gives the map back.
  back = models.sample_bilinear(models.sample_bilinear(
      features, models.place_grid(jnp.array([[0.0, 0.0, 1.0, 1.0]]))),
                                whole)
  np.testing.assert_allclose(back, features, atol=1e-5)


def test_caption_encoder_shapes_padding_and_the_ds_sje_loss():
  codes = np.stack([whatwhere.encode('a small red 7 in the middle'),
                    whatwhere.encode('huge navy eight')])
  encoder = text.CharEncoder(embedding_dim=12, width=8)
  params = jax.jit(encoder.init)(KEY, codes)  # compiled whole, not per op
  out = jax.jit(encoder.apply)(params, codes)
  assert out.shape == (2, 12)
  # The first caption alone gives the same embedding: padding is masked.
  np.testing.assert_allclose(jax.jit(encoder.apply)(params, codes[:1])[0],
                             out[0], rtol=1e-5, atol=1e-6)
  # The paper's encoder alone (read_words=False): its last layer reads the
  # GRU's 8 units, not those and the 8 word maxima.
  paper = text.CharEncoder(embedding_dim=12, width=8, read_words=False)
  paper_params = jax.eval_shape(paper.init, KEY, codes)
  assert jax.eval_shape(paper.apply, paper_params, codes).shape == (2, 12)
  assert paper_params['params']['Dense_0']['kernel'].shape == (8, 12)
  assert params['params']['Dense_0']['kernel'].shape == (16, 12)
  with pytest.raises(ValueError, match="characters outside the alphabet: '!'"):
    whatwhere.encode('a red 7!')
  with pytest.raises(ValueError, match='more than 80'):
    whatwhere.encode('a' * 81)
  # DS-SJE by hand: two images, two captions, different content.
  v = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  t = jnp.array([[0.5, 0.0], [0.2, 0.1]])
  content = jnp.array([[1, 0, 0, 0], [2, 0, 0, 0]])
  # F = v t^T = [[0.5, 0.2], [0, 0.1]]; image hinges: 1 + 0.2 - 0.5 = 0.7,
  # 1 + 0 - 0.1 = 0.9; caption hinges: 1 + 0 - 0.5 = 0.5, 1 + 0.2 - 0.1 =
  # 1.1; summed, over 2 examples.
  np.testing.assert_allclose(text.ds_sje_loss(v, t, content),
                             (0.7 + 0.9 + 0.5 + 1.1) / 2, rtol=1e-6)
  # Same content: no negatives, no loss.
  assert float(text.ds_sje_loss(v, t, jnp.zeros((2, 4), jnp.int32))) == 0


def test_contrast_captions_are_the_wrong_captions_d_sees():
  """contrast_fraction 1: every wrong caption is the contrast caption, so
  where that equals the right caption D's wrong pair is its right pair, and
  other contrast captions give other wrong pairs (one compiled step)."""
  from gan_jax.core import state as state_lib  # pylint: disable=g-import-not-at-top
  g = models.Generator(image_size=32, ngf=4)
  d = models.Discriminator(image_size=32, ndf=4, text_width=8)
  encoder = text.CharEncoder(embedding_dim=8, width=8)
  source = whatwhere.make_source('train', 32, canvases_per_image=1)
  batch = source.load(np.arange(8))
  captions = batch['caption']
  # One compiled initialisation: module by module, op by op, the players'
  # initialisers would compile hundreds of small programs.
  state = jax.jit(lambda key: state_lib.new_state(key, {
      'text': state_lib.make_player(
          {'params': {'text': encoder.init(key, captions)['params']}},
          SGD),
      'g': state_lib.make_player(g.init(key, jnp.zeros((2, 8)),
                                        jnp.zeros((2, 8)),
                                        jnp.full((2, 4), 0.25)), SGD),
      'd': state_lib.make_player(d.init(key, jnp.zeros((2, 32, 32, 3)),
                                        jnp.full((2, 4), 0.25),
                                        jnp.zeros((2, 8))), SGD)}))(KEY)
  train_step = jax.jit(step.make_train_step(
      g, d, encoder, SGD, SGD, z_dim=8, cls_weight=0.5,
      interpolation_weight=0.0, separate_passes=False, contrast_fraction=1.0))
  metrics = {}
  for name, contrast in (('right', captions),
                         ('other', np.roll(captions, 1, axis=0))):
    inputs = {'image': batch['image'][None], 'caption': captions[None],
              'box': batch['box'][None], 'contrast_caption': contrast[None]}
    metrics[name] = train_step(state, inputs)[1]
  np.testing.assert_allclose(metrics['right']['d_wrong'],
                             metrics['right']['d_real'], rtol=1e-6)
  assert abs(float(metrics['other']['d_wrong']
                   - metrics['other']['d_real'])) > 1e-4


def test_attribute_probes_read_only_what_the_embedding_carries():
  rng = np.random.default_rng(0)
  content = rng.integers(0, [10, 6, 3, 9], size=(600, 4))
  # An embedding of the digit alone, with noise.
  embeddings = np.eye(10)[content[:, 0]] + 0.1 * rng.normal(size=(600, 10))
  probes = text.attribute_probes(whatwhere.CONTENT_NAMES, embeddings[:400],
                                 content[:400],
                                 embeddings[400:], content[400:])
  assert sorted(probes) == ['probe_colour', 'probe_digit', 'probe_place',
                            'probe_size']
  assert probes['probe_digit'] > 0.95
  assert probes['probe_colour'] < 0.35 and probes['probe_place'] < 0.3


def test_matching_aware_loss_by_hand():
  real_right = jnp.array([2.0, 0.0])
  real_wrong = jnp.array([-1.0, 1.0])
  fake_right = jnp.array([0.5, -3.0])
  softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
  # BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l).
  expected = (np.mean(softplus(-np.array([2.0, 0.0])))
              + 0.5 * np.mean(softplus(np.array([-1.0, 1.0])))
              + 0.5 * np.mean(softplus(np.array([0.5, -3.0]))))
  np.testing.assert_allclose(
      step.matching_aware_d_loss(real_right, real_wrong, fake_right, 0.5),
      expected, rtol=1e-6)
  # cls_weight 0 is the plain conditional GAN: the wrong pair has no say.
  np.testing.assert_allclose(
      step.matching_aware_d_loss(real_right, real_wrong + 100, fake_right,
                                 0.0),
      np.mean(softplus(-np.array([2.0, 0.0])))
      + np.mean(softplus(np.array([0.5, -3.0]))), rtol=1e-6)


_TINY = {'num_train_steps': 4, 'text_steps': 2, 'text_batch_size': 8,
         'model.ngf': 4, 'model.ndf': 4, 'model.text_dim': 8, 'model.text_width': 8,
         'model.z_dim': 8, 'batch_size': 8, 'eval_num_images': 64,
         'eval_batch_size': 32, 'num_sample_images': 2,
         'log_every_steps': 2, 'checkpoint_every_steps': 2,
         'data.canvases_per_image': 1, 'data.num_workers': 1}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, digits_classifier_cache):
  import gawwn  # configs/gawwn.py  # pylint: disable=g-import-not-at-top
  config = gawwn.get_config()
  for field, value in _TINY.items():
    parent, _, name = field.rpartition('.')
    (config[parent] if parent else config)[name] = value
  workdir = str(tmp_path_factory.mktemp('gawwn'))
  digits_classifier_cache[1](os.path.join(workdir, 'eval'))
  summary = modes.run(config, workdir)
  return config, workdir, summary


def test_tiny_run_trains_freezes_the_encoder_and_scores(tiny_run):
  config, workdir, summary = tiny_run
  assert summary['status'] == 'completed' and summary['step'] == 4
  for name in ('d_loss', 'g_loss', 'd_real', 'd_wrong', 'd_fake'):
    assert np.isfinite(summary[name]), name
  scores = summary['eval']
  for name in ('what_accuracy', 'colour_accuracy', 'where_iou',
               'what_accuracy_shuffled', 'where_iou_moved_old',
               'where_iou_moved_new', 'text_retrieval', 'text_probe_digit',
               'text_probe_colour', 'text_probe_place',
               'd_prefers_right_caption'):
    assert 0 <= scores[name] <= 1, name
  assert scores['what_accuracy_real'] > 0.85
  assert scores['colour_accuracy_real'] == 1.0
  assert scores['where_iou_real'] > 0.9
  figures = os.listdir(os.path.join(workdir, 'eval'))
  assert 'boxes_step_0000004.png' in figures
  assert 'captions_step_0000004.png' in figures
  # The encoder learnt before the game (its params moved from init) and
  # the game left it as it was (checkpoints are kept at 2 and 4).
  def leaves(step_, player):
    path = os.path.join(workdir, 'checkpoints', str(step_), 'default')
    with ocp.StandardCheckpointer() as checkpointer:
      restored = checkpointer.restore(path)
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in
            jax.tree_util.tree_flatten_with_path(restored)[0]
            if f"['{player}']['params']" in jax.tree_util.keystr(p)}

  text_2, text_4 = leaves(2, 'text'), leaves(4, 'text')
  assert text_2 and text_2.keys() == text_4.keys()
  for name in text_2:
    np.testing.assert_array_equal(text_2[name], text_4[name])
  # One compiled init, as the run's (loop.build_training), not op by op.
  initial = loop.build_training(config, config.num_train_steps).init(
      jax.random.PRNGKey(config.seed)).players['text'].params
  initial = {jax.tree_util.keystr(p): np.asarray(v) for p, v in
             jax.tree_util.tree_flatten_with_path(initial)[0]}
  moved = [name for name in text_2 if not np.array_equal(
      text_2[name], initial[name.split("['params']", 1)[1]])]
  assert len(moved) == len(text_2)
  g_2, g_4 = leaves(2, 'g'), leaves(4, 'g')
  assert any(not np.array_equal(g_2[k], g_4[k]) for k in g_2)


def test_generate_mode_writes_images_and_grids(tiny_run, tmp_path):
  config, workdir, _ = tiny_run
  config = config.copy_and_resolve_references()
  config.caption = 'a large blue 3 in the middle'
  config.box = '0.2,0.1,0.5,0.8'
  out = modes.run(config, workdir, 'generate', str(tmp_path / 'out'))
  names = sorted(os.listdir(out))
  assert names[:2] == ['boxes.png', 'captions.png']
  assert len([n for n in names if n.startswith('sample_')]) == 2
  config.box = '0.7,0.1,0.5,0.5'
  with pytest.raises(errors.ConfigError, match='config.box'):
    modes.run(config, workdir, 'generate', str(tmp_path / 'x'))
  config.box = '0.2,0.1,0.5,0.8'
  config.caption = 'a red 7 ?'
  with pytest.raises(errors.ConfigError, match='config.caption'):
    modes.run(config, workdir, 'generate', str(tmp_path / 'x'))


def _write_faces(root, count=30):
  """A CelebA-layout folder of ``count`` 12 x 10 'faces' with the caption
  attributes (and one more CelebA column the captions ignore)."""
  os.makedirs(root / 'img_align_celeba')
  rng = np.random.default_rng(0)
  names = ('Attractive',) + faces.ATTRIBUTES
  rows = []
  for i in range(count):
    name = f'{i + 1:06d}.jpg'
    values = rng.integers(0, 2, len(names))
    values[4:7] = np.eye(3, dtype=int)[i % 3] if i % 4 else 0  # hair
    pixels = rng.integers(40, 250, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / 'img_align_celeba' / name)
    rows.append(name + ' ' + ' '.join('1' if v else '-1' for v in values))
  (root / 'list_attr_celeba.txt').write_text(
      f'{count}\n{" ".join(names)}\n' + '\n'.join(rows) + '\n')


def test_whatwhere_faces_say_what_their_attributes_say(tmp_path):
  _write_faces(tmp_path)
  spec = f'whatwhere_faces:{tmp_path}'
  train = faces.make_source(spec, 'train', 32, seed=1, canvases_per_image=2,
                            test_count=10)
  test = faces.make_source(spec, 'test', 32, seed=1, test_count=10)
  assert (train.num_examples, test.num_examples) == (40, 20)
  batch = train.load(np.arange(40))
  again = train.load(np.arange(40)[::-1])
  for field in batch:
    np.testing.assert_array_equal(batch[field], again[field][::-1])
  np.testing.assert_array_equal(faces.attributes_of(batch['content']) > 0.5,
                                batch['attributes'] > 0.5)
  # Face i and i + 20 are one face on two canvases: same attributes.
  np.testing.assert_array_equal(batch['attributes'][:20],
                                batch['attributes'][20:])
  for codes, content, image, box in zip(batch['caption'], batch['content'],
                                        batch['image'], batch['box']):
    caption = whatwhere.decode(codes)
    words = set(caption.replace(',', ' ').split())
    person = {'man', 'guy', 'gentleman'} if content[0] else {'woman', 'lady'}
    assert words & person, caption
    assert ('hair' in words) == (content[3] > 0), caption
    assert bool(words & {'glasses', 'spectacles', 'eyeglasses'}) == bool(
        content[5]), caption
    x, y, w, h = np.round(box * 32).astype(int)
    outside = image.copy()
    outside[y:y + h, x:x + w] = 0
    assert not outside.any() and image[y:y + h, x:x + w].any()
  # Contrast captions change one face attribute.
  rng = np.random.default_rng(0)
  for content in batch['content']:
    changed = faces.contrast_content(content, rng) != content
    assert changed.sum() == 1 and changed[:6].any()
  assert all(whatwhere.decode(a) != whatwhere.decode(b) for a, b in zip(
      batch['caption'], batch['contrast_caption']))
  # Held-out phrasings (one of them ends '... who is young') in the test
  # split only.
  test_captions = [whatwhere.decode(c) for c in test.load(
      np.arange(20))['caption']]
  assert any(' who is ' in c for c in test_captions)
  assert not any(' who is ' in whatwhere.decode(c) for c in batch['caption'])
  with pytest.raises(sources.DataError, match='whatwhere_faces:PATH'):
    faces.make_source('whatwhere_faces:', 'train')


def test_tiny_faces_run_scores_attributes_and_boxes(tmp_path):
  import gawwn  # configs/gawwn.py  # pylint: disable=g-import-not-at-top
  _write_faces(tmp_path / 'celeba')
  config = gawwn.get_config('faces')
  for field, value in {**_TINY, 'num_train_steps': 2,
                       'checkpoint_every_steps': 2, 'eval_num_images': 16,
                       'eval_batch_size': 16, 'eval_classifier_steps': 5,
                       'data.test_count': 10}.items():
    parent, _, name = field.rpartition('.')
    (config[parent] if parent else config)[name] = value
  config.data.source = f'whatwhere_faces:{tmp_path / "celeba"}'
  summary = modes.run(config, str(tmp_path / 'run'))
  scores = summary['eval']
  for name in ('attribute_accuracy', 'attribute_accuracy_male',
               'attribute_accuracy_eyeglasses', 'where_iou',
               'attribute_accuracy_shuffled',
               'attribute_accuracy_shuffled_chance', 'text_probe_hair'):
    assert 0 <= scores[name] <= 1, name
  assert scores['where_iou_real'] > 0.9
  config.caption = 'a smiling young woman with blond hair in the middle'
  out = modes.run(config, str(tmp_path / 'run'), 'generate',
                  str(tmp_path / 'out'))
  assert {'boxes.png', 'captions.png'} <= set(os.listdir(out))

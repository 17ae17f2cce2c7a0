"""GAWWN (Reed et al. 2016, "Learning What and Where to Draw") configs:
``--config=configs/gawwn.py:PRESET``.

Defaults follow the authors' Lua release (reedscot/nips2016,
``main_cub_bbox.lua`` and ``scripts/train_cub_bbox.sh``);
gan_jax/families/gawwn/ says where and why anything differs.
``--show_config`` lists every field with its meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'captioned digits in boxes on a 64x64 canvas (what: digit, '
              'colour, size; where: the box), checkable by machine',
    'faces': 'CelebA faces in boxes, captioned from their attributes '
             '(--config.data.source=whatwhere_faces:/path/to/celeba)',
}


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'gawwn'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, noise, wrong-caption orders

  config.image_size = 64  # 32 x 2^k; the release: 128
  config.channels = 3  # RGB canvases
  config.batch_size = 16  # global, over all devices (train_cub_bbox.sh: 16)
  # Passes over data.canvases_per_image x images: 14 = 10,066 steps of 16 on
  # the digits, where docs/gawwn.md measured "what" above 0.9.
  config.num_epochs = 14
  config.num_train_steps = -1  # -1: from num_epochs
  # Before the game, the caption encoder learns (DS-SJE); the game reads
  # it, fixed (docs/gawwn.md: shorter left the digit out of it).
  config.text_steps = 4000  # DS-SJE minibatches before the game
  config.text_batch_size = 64  # canvases and captions per minibatch
  config.text_lr = 1e-3  # the caption encoder's Adam rate (beta1 0.9)
  config.cls_weight = 0.5  # GAN-CLS: weight of (real, wrong caption) in D
  config.interpolation_weight = 0.0  # GAN-INT's G term; the release: none
  # Of D's wrong captions, the fraction that is the example's own sentence
  # with one attribute changed; the rest permute the batch's (the release:
  # 0; see gan_jax/families/gawwn/step.py).
  config.contrast_fraction = 0.5
  # D judges the three kinds of pair in three batches (True, the release)
  # or in one (False): see gan_jax/families/gawwn/step.py for why one.
  config.d_separate_passes = False
  # Data parallelism over every device: 'shard_map' or 'pmap'.
  config.parallel = 'shard_map'
  # --mode=generate: what to draw (a caption in the task's alphabet) ...
  config.caption = ''
  # ... and where: the box x,y,w,h as fractions of the canvas.
  config.box = '0.25,0.125,0.5,0.75'

  config.model = ml_collections.ConfigDict()
  config.model.ngf = 32  # G's width unit (the release: 128; 32 fits 2 CPU cores)
  config.model.ndf = 32  # D's width unit (the release: 128)
  config.model.z_dim = 100  # nz
  config.model.text_dim = 128  # caption embedding (the release's: 1,024)
  config.model.text_width = 128  # D's text projection, nt
  # The caption encoder also reads words (a max over its first conv
  # layer's features; docs/gawwn.md), or False: the paper's char-CNN-RNN.
  config.model.text_read_words = True
  # Grids and evaluation normalise G's batch norm with the batch's own
  # statistics (True) or the running averages (False).
  config.model.sample_with_batch_stats = True
  # Convolutions as matrix products ('matmul', fast on CPU), XLA's own
  # ('lax'), or 'auto': matmul on CPU, lax elsewhere.
  config.model.conv_impl = 'auto'

  # Adam 2e-4, beta1 0.5 for G and D (the release's optim.adam).
  config.optimizer = optim.optimizer_config(lr=2e-4, b1=0.5)

  config.data = ml_collections.ConfigDict()
  # 'whatwhere_digits' (gan_jax/families/gawwn/whatwhere.py) or
  # 'whatwhere_faces:PATH', CelebA's layout under PATH (faces.py).
  config.data.source = 'whatwhere_digits'
  config.data.seed = 0  # which canvases, boxes, colours and captions
  config.data.canvases_per_image = 8  # canvases per digit or face image
  config.data.test_count = 1999  # faces: StarGAN's CelebA test split
  config.data.num_workers = 2  # threads building batches
  config.data.prefetch = 4  # steps built ahead

  config.log_every_steps = 100  # console and TensorBoard
  config.checkpoint_every_steps = 2000  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 10)
  # Test examples in each grid, as rows: the real canvas, then 7 samples.
  config.num_sample_images = 8

  # 'what' (digit and colour accuracy) and 'where' (box IoU) are computed
  # together on eval_num_images test examples (gan_jax/families/gawwn/
  # family.py), with their controls and the real canvases' ceilings.
  config.eval_metrics = ('what', 'where')
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_num_images = 1024  # test examples generated and scored
  config.eval_batch_size = 64  # images per G call
  # Faces: minibatches of 64 that train the attribute classifier (cached).
  config.eval_classifier_steps = 1500

  if preset == 'faces':
    config.data.source = 'whatwhere_faces:'  # required: ...:/path/to/celeba
    config.data.canvases_per_image = 2  # 6,001 training faces
    config.num_epochs = 10
  elif preset not in (None, '', 'digits'):
    raise ValueError(f'unknown preset {preset!r} for configs/gawwn.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config

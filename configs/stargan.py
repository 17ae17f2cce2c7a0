"""StarGAN (Choi et al. 2018) configs: ``--config=configs/stargan.py:PRESET``.

Defaults follow the authors' released code (yunjey/stargan, ``main.py``);
gan_jax/families/stargan/ says where and why anything differs.
``--show_config`` lists every field with its meaning.
"""

import ml_collections

from gan_jax.core import optim

# Name -> one line (``--help``); the first is the default.
PRESETS = {
    'digits': 'digits in 3 colours x bold or not (six domains, known '
              'translations) at 32x32: minutes on 2 CPU cores',
    'celeba': "the paper's CelebA setting on aligned faces "
              '(data.source=attributes:PATH) at 64: hair colour, gender, age',
}

CELEBA_ATTRIBUTES = ('Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male', 'Young')


def get_config(preset: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = 'stargan'  # a folder of gan_jax/families
  config.seed = 0  # initialisation, data order, flips, targets, GP weights

  config.image_size = 128  # the paper's; D's last map is image_size / 64
  config.channels = 3  # image channels (the digits and faces are RGB)
  config.batch_size = 16  # global, over all devices (the reference: 16)
  # Passes of D over the training images. A step is one G update and the
  # d_steps D updates before it, on d_steps minibatches (the reference's
  # n_critic iterations).
  config.num_epochs = 20
  config.num_train_steps = -1  # G updates; -1: from num_epochs
  config.d_steps = 5  # n_critic: D updates (minibatches) per G update
  config.gp_weight = 10.0  # lambda_gp, WGAN-GP (Gulrajani et al. 2017)
  config.classification_weight = 1.0  # lambda_cls (Eqs. 6, 7)
  config.reconstruction_weight = 10.0  # lambda_rec: |x - G(G(x, c'), c)|_1
  # Not in the reference: CycleGAN's identity loss as a fraction of
  # lambda_rec, identity_weight lambda_rec |G(x, c) - x|_1; 0 switches it off.
  config.identity_weight = 0.0
  # Data parallelism over every device: 'shard_map' or 'pmap'.
  config.parallel = 'shard_map'
  # --mode=translate: attributes to set on every input image, e.g.
  # 'Blond_Hair,Male' (set to 1) or 'Male=0'; the others keep the values
  # the run's attribute classifier reads from the image.
  config.translate_attributes = ''

  config.model = ml_collections.ConfigDict()
  config.model.base_width = 64  # G's first channels (g_conv_dim)
  config.model.d_base_width = 64  # D's first channels (d_conv_dim)
  config.model.num_blocks = 6  # G's residual blocks (g_repeat_num)
  config.model.d_layers = 6  # D's stride-2 convolutions (d_repeat_num)
  # Convolutions as matrix products ('matmul', fast on CPU), XLA's own
  # ('lax'), or 'auto': matmul on CPU, lax elsewhere.
  config.model.conv_impl = 'auto'

  # Adam 1e-4, beta (0.5, 0.999) for G and for D; constant for the first
  # half of the updates, then linear to 0 (the paper; the reference's own
  # decay is a 0.1% step, see gan_jax/families/stargan/family.py).
  config.optimizer = optim.optimizer_config(
      lr=1e-4, b1=0.5, schedule='linear_decay', decay_start_fraction=0.5)

  config.data = ml_collections.ConfigDict()
  # 'digits_domains' (embedded) or 'attributes:PATH' (CelebA's layout:
  # PATH/img_align_celeba/ and PATH/list_attr_celeba.txt).
  config.data.source = 'attributes:'
  # The attributes that make the domains, in the order of G's label vector.
  config.data.attributes = CELEBA_ATTRIBUTES
  # Targets keep these one-hot (the reference's hair colours), where each
  # other attribute is flipped.
  config.data.exclusive_attributes = ('Black_Hair', 'Blond_Hair',
                                      'Brown_Hair', 'Gray_Hair')
  # The test split: the first N rows of the attribute file after the
  # reference's seeded shuffle (1,999: its ``(i + 1) < 2000``).
  config.data.test_count = 1999
  config.data.flip = True  # random horizontal flips in training
  config.data.num_workers = 2  # decoding threads
  config.data.prefetch = 4  # steps decoded ahead

  config.log_every_steps = 100  # console and TensorBoard
  config.checkpoint_every_steps = 2000  # and at the end, and on SIGTERM
  config.checkpoint_max_to_keep = 3  # older checkpoints are deleted
  # Epochs after which samples/ gets a grid (and always the last step).
  config.sample_epochs = (1, 5, 10)
  # Test images in each grid, as rows: input, then one column per target.
  config.num_sample_images = 8

  # Translations of the test images to every target (gan_jax/families/
  # stargan/family.py): 'target_accuracy' (the attribute classifier),
  # 'fid' (per target domain; needs eval_inception_weights or
  # $GAN_JAX_INCEPTION_WEIGHTS), 'l1' and 'psnr' (against the known answer:
  # digits only); reconstruction L1 is always reported. At the last step,
  # and every eval_every_steps if positive.
  config.eval_metrics = ('target_accuracy', 'fid')
  config.eval_every_steps = 0  # > 0: also during training
  config.eval_num_images = 0  # test images translated; 0: all
  # Minibatches of 64 that train the attribute classifier (cached per run).
  config.eval_classifier_steps = 1500
  config.eval_batch_size = 50  # images per translation / feature call
  config.eval_inception_weights = ''  # the Inception .npz for fid

  if preset in (None, '', 'digits'):
    config.image_size = 32
    config.data.source = 'digits_domains'
    # Bold, not Inverted (also offered): with the inversion, G redraws a
    # generic digit for one family of targets (docs/stargan.md).
    config.data.attributes = ('Red', 'Green', 'Blue', 'Bold')
    config.data.exclusive_attributes = ('Red', 'Green', 'Blue')
    # Not the reference's: it lowers the errors against the known answer
    # (docs/stargan.md).
    config.identity_weight = 0.5
    # Sized for 2 CPU cores: half the widths, fewer blocks, D down to 1x1.
    config.model.base_width = 32
    config.model.d_base_width = 32
    config.model.num_blocks = 3
    config.model.d_layers = 5
    config.num_epochs = 60
    config.log_every_steps = 50
    config.sample_epochs = (10, 30)
    config.num_sample_images = 10
    config.eval_metrics = ('target_accuracy', 'l1', 'psnr')
  elif preset == 'celeba':
    config.data.source = 'attributes:'  # required: attributes:/path/to/celeba
    config.image_size = 64
    config.checkpoint_every_steps = 1000
  else:
    raise ValueError(f'unknown preset {preset!r} for configs/stargan.py; '
                     f'choose one of {tuple(PRESETS)}')
  return config

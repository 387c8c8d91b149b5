"""From a genotype to the discrete network that retrains it, one entry per search space.

The dispatch is by the genotype's type (a value class per space), so adding a space means one
line in `_NETWORKS` and one in `GENOTYPE_PARSERS`; no if/elif on names.
"""

import types

from tenas_tf.spaces import init as init_lib
from tenas_tf.spaces.nb201 import NB201Genotype
from tenas_tf.spaces.nb201_network import NB201Network

# Space name -> arch-string parser (its genotype's `from_string`).
GENOTYPE_PARSERS = types.MappingProxyType({"nb201": NB201Genotype.from_string})
# Genotype type -> Keras model class taking (genotype, num_classes, **options).
_NETWORKS = types.MappingProxyType({NB201Genotype: NB201Network})


def parse_genotype(space, arch_str):
  """The genotype value of `arch_str` in search space `space` ("nb201").

  Raises:
    ValueError: for an unknown space, or an arch string malformed for it (naming the fault).
  """
  if space not in GENOTYPE_PARSERS:
    raise ValueError(f"space must be one of {tuple(GENOTYPE_PARSERS)}; got {space!r}")
  return GENOTYPE_PARSERS[space](arch_str)


def build_network(genotype, num_classes, image_size, *, seed=0, init="pytorch_default",
                  **options):
  """The discrete network of `genotype`, built for [S, S, 3] inputs and initialised from `seed`.

  Args:
    genotype: a genotype value, e.g. `NB201Genotype`.
    num_classes: number of logits.
    image_size: side S of the (normalised) input images.
    seed: int; `tenas_tf.spaces.init.initialize` draws every weight from it, and the
      network's own randomness (drop-path) is seeded by it.
    init: initialisation scheme (`tenas_tf.spaces.init.INIT_SCHEMES`).
    **options: the network's size and regularisation arguments, e.g. `channels`,
      `cells_per_stage`, `drop_path_rate` for `NB201Network`.

  Returns:
    A built Keras model whose `get_config` holds the arch string.

  Raises:
    ValueError: for a genotype of no known space.

  Example:
    >>> net = build_network(NB201Genotype.from_string(arch), 10, 32, channels=16,
    ...                     cells_per_stage=5)
  """
  network_class = _NETWORKS.get(type(genotype))
  if network_class is None:
    raise ValueError(f"genotype must be one of {tuple(t.__name__ for t in _NETWORKS)}; "
                     f"got {type(genotype).__name__} {genotype!r}")
  network = network_class(genotype, num_classes=num_classes, init=init, seed=seed, **options)
  network.build((None, image_size, image_size, 3))
  init_lib.initialize(network, seed, init)
  return network

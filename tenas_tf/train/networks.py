"""From a genotype to the discrete network that retrains it, one entry per search space.

The dispatch is by the genotype's type (a value class per space), so adding a space means one
line in `_NETWORKS`, one in `GENOTYPE_PARSERS` and one in `NETWORK_OPTIONS`; no if/elif on names.
"""

import types

from tenas_tf import data as data_lib
from tenas_tf.spaces import DartsGenotype
from tenas_tf.spaces import DartsNetwork
from tenas_tf.spaces import NB201Genotype
from tenas_tf.spaces import NB201Network
from tenas_tf.spaces import initialize

# Space name -> genotype parser: NB201 arch strings; DARTS' text form or the JSON form (a dict,
# as result.json stores it, or its text).
GENOTYPE_PARSERS = types.MappingProxyType({"nb201": NB201Genotype.from_string,
                                           "darts": DartsGenotype.parse})
# Genotype type -> Keras model class taking (genotype, num_classes, **options).
_NETWORKS = types.MappingProxyType({NB201Genotype: NB201Network, DartsGenotype: DartsNetwork})
# Space name -> the size and regularisation options its network takes (`build_network`'s
# **options; `TrainConfig` fields and flags of the same names).
NETWORK_OPTIONS = types.MappingProxyType({
    "nb201": ("channels", "cells_per_stage", "drop_path_rate"),
    "darts": ("channels", "num_cells", "auxiliary_weight", "drop_path_rate"),
})
# DARTS evaluates ImageNet genotypes in its ImageNet skeleton, every other dataset in CIFAR's.
_DARTS_VARIANTS = types.MappingProxyType({"imagenet-1k": "imagenet"})


def parse_genotype(space, genotype):
  """The genotype value of `genotype` in search space `space` ("nb201" or "darts").

  Args:
    space: the search space's name.
    genotype: nb201: an arch string; darts: DARTS' text form `Genotype(normal=[...], ...)` or
      the JSON form (result.json's dict, or its JSON text).

  Raises:
    ValueError: for an unknown space, or a genotype malformed for it (naming the fault).
  """
  if space not in GENOTYPE_PARSERS:
    raise ValueError(f"space must be one of {tuple(GENOTYPE_PARSERS)}; got {space!r}")
  return GENOTYPE_PARSERS[space](genotype)


def network_options(space, dataset, values):
  """`build_network`'s options for a genotype of `space` trained on `dataset`.

  Args:
    space: "nb201" or "darts".
    dataset: a dataset name; it picks the DARTS skeleton (ImageNet's for "imagenet-1k").
    values: a mapping holding at least the options `NETWORK_OPTIONS[space]` names (others,
      e.g. the rest of a `TrainConfig.to_json()`, are ignored).

  Returns:
    A dict of `NETWORK_OPTIONS[space]` (and `variant` for DARTS).

  Raises:
    ValueError: for an unknown space or dataset.

  Example:
    >>> network_options("darts", "cifar10", dict(channels=36, num_cells=20, cells_per_stage=5,
    ...                                          auxiliary_weight=0.4, drop_path_rate=0.3))
    {'channels': 36, 'num_cells': 20, 'auxiliary_weight': 0.4, 'drop_path_rate': 0.3,
     'variant': 'cifar'}
  """
  if space not in NETWORK_OPTIONS:
    raise ValueError(f"space must be one of {tuple(NETWORK_OPTIONS)}; got {space!r}")
  options = {name: values[name] for name in NETWORK_OPTIONS[space]}
  if space == "darts":
    options["variant"] = _DARTS_VARIANTS.get(data_lib.dataset_info(dataset).name, "cifar")
  return options


def build_network(genotype, num_classes, image_size, *, seed=0, init="pytorch_default",
                  **options):
  """The discrete network of `genotype`, built for [S, S, 3] inputs and initialised from `seed`.

  Args:
    genotype: a genotype value, `NB201Genotype` or `DartsGenotype`.
    num_classes: number of logits.
    image_size: side S of the (normalised) input images.
    seed: int; `tenas_tf.spaces.init.initialize` draws every weight from it, and the
      network's own randomness (drop-path) is seeded by it.
    init: initialisation scheme (`tenas_tf.spaces.init.INIT_SCHEMES`).
    **options: the network's size and regularisation arguments (`network_options`), e.g.
      `channels`, `cells_per_stage`, `drop_path_rate` for `NB201Network`; `channels`,
      `num_cells`, `auxiliary_weight`, `drop_path_rate`, `variant` for `DartsNetwork`.

  Returns:
    A built Keras model whose `get_config` holds the genotype (arch string or JSON form).

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
  initialize(network, seed, init)
  return network

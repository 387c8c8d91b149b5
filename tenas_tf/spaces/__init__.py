"""Search spaces: ops and cells as Keras layers, supernets driven by alive masks, genotypes."""

from tenas_tf.spaces.init import INIT_SCHEMES, initialize
from tenas_tf.spaces.nb201 import NB201Genotype, initial_mask as nb201_initial_mask
from tenas_tf.spaces.nb201_supernet import (MixedEdge, NB201SearchCell, NB201SearchNetwork,
                                            built_ops_of, linear_region_network, ntk_network)
from tenas_tf.spaces.ops import NB201_OPS

"""Search spaces: ops and cells as Keras layers, supernets driven by alive masks, genotypes."""

from tenas_tf.spaces.darts import (TENAS_CIFAR10, TENAS_IMAGENET, DartsGenotype,
                                   initial_mask as darts_initial_mask)
from tenas_tf.spaces.darts_heads import VARIANTS as DARTS_VARIANTS, AuxiliaryHead, DartsStem
from tenas_tf.spaces.darts_network import DartsCell, DartsNetwork
from tenas_tf.spaces.darts_ops import DARTS_OPS
from tenas_tf.spaces.darts_supernet import DartsMixedEdge, DartsSearchCell, DartsSearchNetwork
from tenas_tf.spaces.init import INIT_SCHEMES, initialize
from tenas_tf.spaces.nb201 import NB201Genotype, initial_mask as nb201_initial_mask
from tenas_tf.spaces.nb201_network import DropPath, NB201Cell, NB201Network
from tenas_tf.spaces.nb201_supernet import (NB201SearchCell, NB201SearchNetwork, built_ops_of,
                                            linear_region_network, ntk_network)
from tenas_tf.spaces.ops import NB201_OPS
from tenas_tf.spaces.supernet import MixedEdge

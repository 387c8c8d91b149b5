"""Search spaces: ops and cells as Keras layers, supernets driven by alive masks, genotypes."""

from tenas_tf.spaces.cell import DartsCell
from tenas_tf.spaces.cell import NB201Cell
from tenas_tf.spaces.darts import DartsGenotype
from tenas_tf.spaces.darts import TENAS_CIFAR10
from tenas_tf.spaces.darts import TENAS_IMAGENET
from tenas_tf.spaces.darts import built_ops_of as darts_built_ops_of
from tenas_tf.spaces.darts import initial_mask as darts_initial_mask
from tenas_tf.spaces.darts_heads import VARIANTS as DARTS_VARIANTS
from tenas_tf.spaces.darts_heads import AuxiliaryHead
from tenas_tf.spaces.darts_heads import DartsStem
from tenas_tf.spaces.darts_network import DartsNetwork
from tenas_tf.spaces.darts_ops import DARTS_OPS
from tenas_tf.spaces.darts_ops import DARTS_REGISTRY
from tenas_tf.spaces.darts_supernet import DartsSearchNetwork
from tenas_tf.spaces.edge import OP_REGISTRIES
from tenas_tf.spaces.edge import DropPath
from tenas_tf.spaces.edge import MixedEdge
from tenas_tf.spaces.gradients import tensorflow_gradients
from tenas_tf.spaces.init import INIT_SCHEMES
from tenas_tf.spaces.init import initialize
from tenas_tf.spaces.nb201 import NB201Genotype
from tenas_tf.spaces.nb201 import built_ops_of
from tenas_tf.spaces.nb201 import initial_mask as nb201_initial_mask
from tenas_tf.spaces.nb201_network import NB201Network
from tenas_tf.spaces.nb201_supernet import NB201SearchNetwork
from tenas_tf.spaces.nb201_supernet import linear_region_network
from tenas_tf.spaces.nb201_supernet import ntk_network
from tenas_tf.spaces.ops import NB201_OPS
from tenas_tf.spaces.ops import NB201_REGISTRY
from tenas_tf.spaces.ops import OpRegistry
from tenas_tf.spaces.registry import SPACES
from tenas_tf.spaces.registry import SearchSpace
from tenas_tf.spaces.registry import get_space

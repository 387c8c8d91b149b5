"""The TE-NAS algorithm: the scoring loop, ranking, pruning rounds and the DARTS topology step.

It receives its inputs as iterators (batch streams) and its indicators as arguments; it knows
nothing of files, flags or datasets (those are `tenas_tf.experiments` and `tenas_tf.data`).
"""

from tenas_tf.search.cell_scores import mask_scorer
from tenas_tf.search.cell_scores import pruned_network_sizes
from tenas_tf.search.cell_scores import score_masks
from tenas_tf.search.model_scores import Scores
from tenas_tf.search.model_scores import combined_ranks
from tenas_tf.search.model_scores import finite_or_inf
from tenas_tf.search.model_scores import score
from tenas_tf.search.prune import PruneSettings
from tenas_tf.search.prune import local_scorer
from tenas_tf.search.prune import prune_round
from tenas_tf.search.prune import run_search
from tenas_tf.search.prune import te_nas_indicators
from tenas_tf.search.ranking import dense_ranks
from tenas_tf.search.ranking import rank_candidates
from tenas_tf.search.ranking import relative_drop
from tenas_tf.search.scoring import Indicator
from tenas_tf.search.scoring import KeyedDraws
from tenas_tf.search.scoring import draw_seed
from tenas_tf.search.scoring import score_candidates

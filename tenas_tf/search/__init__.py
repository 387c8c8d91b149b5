"""The TE-NAS pruning search: scoring, ranking, rounds and the run directory."""

from tenas_tf.search.driver import SearchConfig, run
from tenas_tf.search.prune import PruneSettings, prune_round, run_search
from tenas_tf.search.ranking import dense_ranks, rank_candidates, relative_drop

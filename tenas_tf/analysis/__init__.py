"""Analysis: ranking models by the indicators, and checking indicators against NB201 accuracies."""

from tenas_tf.analysis.cell_scores import score_masks
from tenas_tf.analysis.correlation import kendall_tau, spearman_rho
from tenas_tf.analysis.evaluation import CorrelationConfig, IndicatorConfig, evaluate_correlation
from tenas_tf.analysis.nb201_table import load_accuracies
from tenas_tf.analysis.score_table import score_cells
from tenas_tf.analysis.scoring import Scores, combined_ranks, score
from tenas_tf.analysis.seed_study import run_seeds

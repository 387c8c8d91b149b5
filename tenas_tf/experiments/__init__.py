"""Runs: a search run, evaluations (correlation, seeds, fixed-cell scores), training and export
runs, and their run folders.

A run owns a directory: its configuration, resume state, typed result, reports, TensorBoard
events and pictures. Runs compose the floors below (`search`, `train`, `export` and the
foundations) and are what the binaries in `tenas_tf.launch` call.
"""

from tenas_tf.experiments.cell_drawing import cell_picture
from tenas_tf.experiments.correlation import kendall_tau
from tenas_tf.experiments.correlation import spearman_rho
from tenas_tf.experiments.evaluation import CorrelationConfig
from tenas_tf.experiments.evaluation import IndicatorConfig
from tenas_tf.experiments.evaluation import evaluate_correlation
from tenas_tf.experiments.evaluation import format_table as format_correlation_table
from tenas_tf.experiments.evaluation import load_arch_strings
from tenas_tf.experiments.evaluation import sample_arch_strings
from tenas_tf.experiments.export_run import ExportJob
from tenas_tf.experiments.export_run import export_run
from tenas_tf.experiments.jobs import CorrelationJob
from tenas_tf.experiments.jobs import Inputs
from tenas_tf.experiments.jobs import ScoresJob
from tenas_tf.experiments.jobs import SearchJob
from tenas_tf.experiments.jobs import SeedsJob
from tenas_tf.experiments.jobs import run_correlation_job
from tenas_tf.experiments.jobs import run_scores_job
from tenas_tf.experiments.jobs import run_search_job
from tenas_tf.experiments.jobs import run_seeds_job
from tenas_tf.experiments.nb201_table import load_accuracies
from tenas_tf.experiments.ray_scoring import RayWorkers
from tenas_tf.experiments.pictures import search_pictures
from tenas_tf.experiments.progress import SearchProgress
from tenas_tf.experiments.progress import interrupted_line as search_interrupted_line
from tenas_tf.experiments.progress import search_summary
from tenas_tf.experiments.run_files import check_writable
from tenas_tf.experiments.run_files import read_json
from tenas_tf.experiments.run_files import write_atomic
from tenas_tf.experiments.run_files import write_json
from tenas_tf.experiments.score_table import GENOTYPE_COLUMNS
from tenas_tf.experiments.score_table import load_genotypes
from tenas_tf.experiments.score_table import score_cells
from tenas_tf.experiments.search_run import RESULT_FILE
from tenas_tf.experiments.search_run import STATE_FILE
from tenas_tf.experiments.search_run import SearchConfig
from tenas_tf.experiments.search_run import SearchResult
from tenas_tf.experiments.search_run import read_result as read_search_result
from tenas_tf.experiments.search_run import run as run_search
from tenas_tf.experiments.search_run import versions
from tenas_tf.experiments.seed_study import check_seeds
from tenas_tf.experiments.seed_study import markdown_table as seeds_markdown_table
from tenas_tf.experiments.seed_study import run_seeds
from tenas_tf.experiments.tensorboard import SearchBoard
from tenas_tf.experiments.training_run import TrainingJob
from tenas_tf.experiments.training_run import TrainingOutcome
from tenas_tf.experiments.training_run import run_training
from tenas_tf.experiments.trajectory_drawing import trajectory_picture

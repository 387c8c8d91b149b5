"""Retraining a found architecture: the NB201 and DARTS recipes, tf.distribute, resumption.

The labelled examples and their pipelines are `tenas_tf.data`'s (`DataSource.examples`,
`npz_examples`, `train_batches`, ...).
"""

from tenas_tf.train.distribute import (STRATEGIES, configure_cpu_devices, make_strategy,
                                        worker_dir)
from tenas_tf.train.networks import (GENOTYPE_PARSERS, NETWORK_OPTIONS, build_network,
                                     network_options, parse_genotype)
from tenas_tf.train.optimizer import PyTorchSGD
from tenas_tf.train.trainer import (BACKUP_DIR, HISTORY_FILE, MODEL_FILE, TrainConfig,
                                    check_mixed_precision, completed_epochs, train)

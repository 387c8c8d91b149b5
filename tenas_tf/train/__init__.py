"""Retraining a found architecture: labelled data, the NB201 and DARTS recipes, tf.distribute,
resumption."""

from tenas_tf.train.data import (check_examples, eval_batches, eval_split, npz_examples,
                                 synthetic_examples, tfds_examples, train_batches)
from tenas_tf.train.distribute import (STRATEGIES, configure_cpu_devices, make_strategy,
                                        worker_dir)
from tenas_tf.train.imagenet_data import image_folder_examples
from tenas_tf.train.networks import (GENOTYPE_PARSERS, NETWORK_OPTIONS, build_network,
                                     network_options, parse_genotype)
from tenas_tf.train.optimizer import PyTorchSGD
from tenas_tf.train.trainer import (BACKUP_DIR, HISTORY_FILE, MODEL_FILE, TrainConfig,
                                    check_mixed_precision, completed_epochs, train)

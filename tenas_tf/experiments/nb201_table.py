"""Trained accuracies of NB201 cells from a table in the format of NAS-Bench-201 exports.

The table is a CSV with the columns `arch_str`, `cifar10_test_acc`, `cifar100_test_acc` and
`imagenet16_test_acc` (one row per cell), e.g. `shared/data/nb201/nb201_accuracies.csv`.
"""

import csv
import os

ACCURACY_COLUMNS = {"cifar10": "cifar10_test_acc", "cifar100": "cifar100_test_acc",
                    "imagenet16": "imagenet16_test_acc"}


def load_accuracies(path):
  """Reads the table: {arch_str: {"cifar10": .., "cifar100": .., "imagenet16": ..}}.

  Raises:
    ValueError: the file is missing, empty, or lacks a needed column (named in the message).
  """
  if not os.path.isfile(path):
    raise ValueError(f"nb201_table {path!r} does not exist or is not a file")
  with open(path, newline="") as stream:
    reader = csv.DictReader(stream)
    needed = ["arch_str"] + list(ACCURACY_COLUMNS.values())
    missing = [column for column in needed if column not in (reader.fieldnames or [])]
    if missing:
      raise ValueError(f"nb201_table {path!r} lacks the columns {missing}; it has "
                       f"{reader.fieldnames}")
    table = {row["arch_str"]: {key: float(row[column]) for key, column in ACCURACY_COLUMNS.items()}
             for row in reader}
  if not table:
    raise ValueError(f"nb201_table {path!r} has no rows")
  return table

"""The pictures a search leaves in its run directory: the cell it found and how it pruned.

- `cell.png`: the genotype's cell(s) (`tenas_tf.experiments.cell_picture`);
- `trajectory.png`: per round and edge, the ops removed with their rank sums
  (`tenas_tf.experiments.trajectory_picture`).
Both are drawn with matplotlib alone and stay small (palette PNGs, under 150 KB for DARTS).
"""

import os

from tenas_tf.experiments import cell_drawing
from tenas_tf.experiments import trajectory_drawing

CELL_FILE = "cell.png"
TRAJECTORY_FILE = "trajectory.png"


def search_pictures(run_dir, space, genotype, rounds):
  """Writes `cell.png` and `trajectory.png` of a finished search into `run_dir`.

  Args:
    run_dir: the search's run directory (it exists).
    space: the `SearchSpace` searched.
    genotype: the genotype found, a value of `space` (`space.genotype_of(mask)`).
    rounds: the search's round records (`tenas_tf.search.run_search`).

  Returns:
    {"cell": "cell.png", "trajectory": "trajectory.png"}: the files, relative to `run_dir`
    (result.json's `pictures`).

  Example:
    >>> search_pictures(run_dir, space, space.genotype_from_json(result["genotype"]),
    ...                 result["rounds"])
  """
  cell_drawing.cell_picture(os.path.join(run_dir, CELL_FILE), genotype)
  trajectory_drawing.trajectory_picture(os.path.join(run_dir, TRAJECTORY_FILE), space, rounds)
  return {"cell": CELL_FILE, "trajectory": TRAJECTORY_FILE}

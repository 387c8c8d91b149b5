"""tenas_tf: training-free neural architecture search (TE-NAS) in TensorFlow 2 / Keras 3."""

import re

from setuptools import find_packages, setup

with open("tenas_tf/__init__.py") as stream:
  VERSION = re.search(r'__version__ = "([^"]+)"', stream.read()).group(1)

setup(
    name="tenas_tf",
    version=VERSION,
    description="TE-NAS (ICLR 2021) training-free NAS in TensorFlow 2 / Keras 3",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tenas_tf", "tenas_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "tensorflow-datasets>=4.9",
        "importlib_resources>=5.0",  # TFDS imports it to prepare imagenet2012 from manual_dir
        "numpy>=1.26",
        "absl-py>=2.0",
        "tensorboard>=2.16",  # tf.summary needs it; TensorFlow no longer installs it
        "matplotlib>=3.7",  # the evaluation's scatter plots and the search's pictures
        "tqdm>=4.60",  # progress bars with an ETA on a terminal
    ],
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6",
                             # gRPC PredictRequest / models.config protos in the export tests
                             "tensorflow-serving-api>=2.16"],
                    # candidates scored on a pool of Ray workers (--workers, --ray_address)
                    "ray": ["ray>=2.9"]},
    entry_points={"console_scripts": ["tenas-search=tenas_tf.launch.search:run_main",
                                      "tenas-evaluate=tenas_tf.launch.evaluate:run_main",
                                      "tenas-train=tenas_tf.launch.train:run_main",
                                      "tenas-export=tenas_tf.launch.export:run_main"]},
)

"""Training-free indicators of any Keras model: NTK condition number and linear regions."""

from tenas_tf.indicators.linear_regions import (count_distinct_rows, num_linear_regions,
                                                relu_layers, relu_sign_patterns,
                                                relu_unit_count)
from tenas_tf.indicators.ntk import (NTKSpectrum, ntk_condition_number, ntk_gram, ntk_spectrum,
                                     ntk_variables, spectrum_of)

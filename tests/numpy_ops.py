"""Numpy re-implementations of the ops with PyTorch's geometry: the test oracles of the op layers.

Everything is float64; convolutions are cross-correlations with symmetric zero padding and a
'valid' window, as PyTorch computes them.
"""

import numpy as np

EPS = 1e-5  # PyTorch BatchNorm2d epsilon


def avg_pool_exclude_pad(x, stride):
  """3x3 mean over the in-bounds cells of each window (count_include_pad=False), pad 1."""
  b, h, w, c = x.shape
  out_h, out_w = (h - 1) // stride + 1, (w - 1) // stride + 1
  out = np.zeros((b, out_h, out_w, c))
  for i in range(out_h):
    for j in range(out_w):
      ci, cj = i * stride, j * stride
      window = x[:, max(ci - 1, 0):ci + 2, max(cj - 1, 0):cj + 2, :]
      out[:, i, j, :] = window.mean(axis=(1, 2))
  return out


def conv(x, kernel, stride, pad):
  """Cross-correlation with symmetric zero padding `pad` and a 'valid' window (PyTorch)."""
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  out_h = (x.shape[1] - k) // stride + 1
  out_w = (x.shape[2] - k) // stride + 1
  out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
  for i in range(out_h):
    for j in range(out_w):
      patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
      out[:, i, j, :] = np.einsum("bhwc,hwcf->bf", patch, kernel)
  return out


def batch_norm(y, training):
  """BN with gamma 1, beta 0; training: batch statistics (biased variance); else mean 0, var 1."""
  if not training:
    return y / np.sqrt(1.0 + EPS)
  mean = y.mean(axis=(0, 1, 2))
  var = y.var(axis=(0, 1, 2))
  return (y - mean) / np.sqrt(var + EPS)


def weight(layer, suffix):
  """The one weight of `layer` whose path ends with `suffix`, as float64."""
  matches = [v for v in layer.weights if v.path.endswith(suffix)]
  assert len(matches) == 1, [v.path for v in layer.weights]
  return matches[0].numpy().astype(np.float64)

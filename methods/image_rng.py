"""Per-image random values that depend only on (seed, image content, position), never on the batch.

SmoothGrad's noise and the Random baseline's values must not depend on an image's batch
neighbours or on the batch size, so they cannot come from one shared random stream. Instead each
image gets a 32-bit *key* from its content (every input tensor's row, bit for bit) and the object's
seed, and every value is a counter-based hash of ``(key, stream, position)``: vectorised over the
batch, on the inputs' device, and the same integers on every device and machine (the final
float conversions may differ by one rounding on another device).

The hash is Thomas Mueller's 32-bit integer hash (a bijection with good avalanche), computed in int64
on values in [0, 2**32) with every product below 2**59, so no overflow or signed-shift behaviour is
involved. Each value costs one hash of ``(hashed position) ^ (stream key)`` per 32 random bits.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

__all__ = ["image_keys", "uniform_like", "normal_samples"]

_MASK32 = 0xFFFFFFFF
_DIGEST_PRIME = 2**31 - 1


def _hash32(x: Tensor) -> Tensor:
    """Mueller's 32-bit integer hash of an int64 tensor holding values in [0, 2**32) (a new tensor).

    ``x ^= x >> 16; x *= 0x45d9f3b`` twice, then ``x ^= x >> 16``, modulo 2**32. The multiplier is
    below 2**27, so the products stay below 2**59: no int64 overflow. In place on one temporary.
    """
    y = x >> 16
    y ^= x
    y *= 0x45D9F3B
    y &= _MASK32
    z = y >> 16
    z ^= y
    z *= 0x45D9F3B
    z &= _MASK32
    y = z >> 16
    y ^= z
    return y


def _python_word(*parts: object) -> int:
    """A 32-bit integer from Python values (seed, stream), stable across processes."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _row_bits(x: Tensor) -> Tensor:
    """(N, ...) floating -> (N, W) int64 words in [0, 2**32): the exact bit patterns of each row."""
    flat = x.detach().reshape(x.shape[0], math.prod(x.shape[1:])).contiguous()
    if flat.dtype == torch.float64:
        raw = flat.view(torch.int64)
        return torch.cat((raw & _MASK32, (raw >> 32) & _MASK32), dim=1)
    if flat.dtype == torch.float32:
        return flat.view(torch.int32).to(torch.int64) & _MASK32
    if flat.element_size() == 2:
        return flat.view(torch.int16).to(torch.int64) & 0xFFFF
    raise ValueError(f"image_keys supports float16/bfloat16/float32/float64 inputs, got {x.dtype}")


def _row_digest(x: Tensor) -> Tensor:
    """(N,) int64 in [0, 2**31 - 1): a position-weighted sum of each row's bits modulo a prime.

    Two rows that differ in one word always differ here (the prime does not divide the weighted
    difference); the weights are hashes of the position, computed on the device.
    """
    words = _row_bits(x) % _DIGEST_PRIME
    positions = torch.arange(words.shape[1], device=words.device, dtype=torch.int64)
    weights = _hash32(positions) % (_DIGEST_PRIME - 1) + 1
    # each product < 2**62; the sum of W values < 2**31 stays far below 2**63 for any image size
    return ((words * weights) % _DIGEST_PRIME).sum(dim=1) % _DIGEST_PRIME


def image_keys(inputs: tuple[Tensor, ...], seed: int) -> Tensor:
    """One 32-bit key per example from the content of all its input tensors and ``seed``.

    Args:
        inputs: Floating tensors aligned on dim 0 (N, ...), e.g. one image batch (N, C, H, W).
        seed: Any int; different seeds give unrelated keys.

    Returns:
        (N,) int64 keys in [0, 2**32), on the inputs' device. Equal rows give equal keys,
        whatever the batch they are in.
    """
    if not inputs:
        raise ValueError("image_keys needs at least one input tensor")
    key = torch.full(
        (inputs[0].shape[0],), _python_word("seed", seed), dtype=torch.int64,
        device=inputs[0].device,
    )
    for index, tensor in enumerate(inputs):
        digest = _row_digest(tensor).to(key.device)
        key = _hash32(_hash32(key ^ _python_word("input", index)) ^ digest)
    return key


def _stream_keys(keys: Tensor, stream: int) -> Tensor:
    """(N, 1) keys of one stream: independent value sets for the same images."""
    return _hash32(keys ^ _python_word("stream", stream)).unsqueeze(1)


def _bits(stream_keys: Tensor, hashed_counters: Tensor) -> Tensor:
    """(N, M) words in [0, 2**32): ``hash(hash(counter) ^ stream_key)`` for every example."""
    return _hash32(hashed_counters.unsqueeze(0) ^ stream_keys)


def _counters(start: int, count: int, device: torch.device) -> Tensor:
    if start + count > 2**32:
        raise ValueError(f"at most 2**32 values per image and stream, asked for {start + count}")
    return torch.arange(start, start + count, device=device, dtype=torch.int64)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _unit_open(words: Tensor, dtype: torch.dtype) -> Tensor:
    """Words in [0, 2**32) -> uniform on the open interval (0, 1), exact in ``dtype``."""
    bits = 24 if dtype == torch.float32 else 32
    return ((words >> (32 - bits)).to(dtype) + 0.5) * 2.0**-bits


def uniform_like(x: Tensor, keys: Tensor, stream: int = 0) -> Tensor:
    """Values uniform on [0, 1), shaped like ``x`` (N, ...), in x's dtype and device.

    Element ``k`` of row ``i`` is a function of ``(keys[i], stream, k)`` only. Values are multiples
    of 2**-b with b the dtype's significand bits (24 for float32, 53 for float64), so they are
    exact in the dtype and never round up to 1.

    Args:
        x: Floating tensor (N, ...) giving the shape, dtype and device.
        keys: (N,) keys from :func:`image_keys`.
        stream: Which of several independent value sets (e.g. the input tensor's index).
    """
    n, numel = x.shape[0], math.prod(x.shape[1:])
    keys = keys.to(x.device)
    hashed = _hash32(_counters(0, numel, x.device))
    bits = {torch.float16: 11, torch.bfloat16: 8, torch.float32: 24}.get(x.dtype, 53)
    high = _bits(_stream_keys(keys, 2 * stream), hashed)
    if bits <= 32:
        values = (high >> (32 - bits)).to(torch.float64) * 2.0**-bits
    else:
        low = _bits(_stream_keys(keys, 2 * stream + 1), hashed)
        values = ((high << (bits - 32)) + (low >> (64 - bits))).to(torch.float64) * 2.0**-bits
    return values.to(x.dtype).reshape((n,) + tuple(x.shape[1:]))


def normal_samples(x: Tensor, keys: Tensor, samples: range, stream: int = 0) -> Tensor:
    """Standard normal noise for samples ``samples`` of every example: (N, len(samples), *x.shape[1:]).

    Element ``k`` of sample ``j`` of row ``i`` is a function of ``(keys[i], stream, j, k)`` only, so
    drawing samples in chunks gives the same values as drawing them at once. Box-Muller: the
    values at positions 2p and 2p + 1 of an image's sequence are ``r cos(t)`` and ``r sin(t)`` from
    the two hashed uniforms of pair p; computed in float32 (float64 for float64 inputs).

    Args:
        x: Floating tensor (N, ...) giving the shape, dtype and device.
        keys: (N,) keys from :func:`image_keys`.
        samples: The sample indices (a range with step 1, e.g. ``range(10, 20)``).
        stream: Which of several independent noise sets (e.g. the input tensor's index).
    """
    if samples.step != 1:
        raise ValueError(f"samples must be a range with step 1, got {samples!r}")
    n, numel = x.shape[0], math.prod(x.shape[1:])
    start, total = samples.start * numel, len(samples) * numel
    if total == 0 or n == 0:
        return x.new_zeros((n, len(samples)) + tuple(x.shape[1:]))
    first_pair, last_pair = start // 2, (start + total - 1) // 2
    hashed = _hash32(_counters(first_pair, last_pair - first_pair + 1, x.device))
    keys = keys.to(x.device)
    dtype = _compute_dtype(x.dtype)
    radius = _unit_open(_bits(_stream_keys(keys, 2 * stream), hashed), dtype)
    radius = radius.log_().mul_(-2.0).sqrt_()
    angle = _unit_open(_bits(_stream_keys(keys, 2 * stream + 1), hashed), dtype)
    angle = angle.mul_(2.0 * math.pi)
    noise = torch.stack((radius * angle.cos(), radius * angle.sin_()), dim=2).reshape(n, -1)
    offset = start - 2 * first_pair
    noise = noise[:, offset : offset + total]
    return noise.to(x.dtype).reshape((n, len(samples)) + tuple(x.shape[1:]))

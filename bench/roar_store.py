"""ROAR/KAR results in the result store: cells with their per-image correctness, leakage rows.

A cell is stored in two writes: its correctness bits (``roar_correct``: ``n`` bits packed with
``numpy.packbits``, 10,000 test images in 1,250 bytes) first, then its accuracy (``roar_cells``).
The accuracy marks the cell done, so a run killed between the two recomputes the cell and never
keeps bits without their cell.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.store import ResultStore

__all__ = ["put_cell", "cell_correctness", "pack_bits", "unpack_bits"]

Cell = tuple[str, float, int]


def pack_bits(correct: torch.Tensor) -> bytes:
    """bool (M,) -> ``ceil(M / 8)`` bytes."""
    return np.packbits(correct.detach().cpu().numpy().astype(bool)).tobytes()


def unpack_bits(blob: bytes, n: int) -> torch.Tensor:
    """The inverse of :func:`pack_bits`: bool (n,)."""
    bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n)
    return torch.from_numpy(bits.astype(bool))


def put_cell(
    store: ResultStore, run_id: str, method: str, cell: Cell, accuracy: float,
    correct: torch.Tensor | None,
) -> None:
    """Store one finished cell: its correctness bits (when known), then its accuracy."""
    mode, fraction, seed = cell
    if correct is not None:
        row = dict(method=method, mode=mode, fraction=float(fraction), seed=int(seed),
                   n=int(correct.numel()), bits=pack_bits(correct))
        store.put_rows("roar_correct", run_id, [row])
    store.put_roar_cell(run_id, method, mode, float(fraction), int(seed), float(accuracy))


def cell_correctness(store: ResultStore, run_id: str, method: str) -> dict[Cell, torch.Tensor]:
    """The stored correctness of every cell of ``method`` whose accuracy is stored too."""
    done = store.roar_cells(run_id, method)
    columns = ("method", "mode", "fraction", "seed", "n", "bits")
    out: dict[Cell, torch.Tensor] = {}
    for row in store.table("roar_correct", run_id):
        values = dict(zip(("run_id", *columns), row, strict=True))
        cell = (values["mode"], values["fraction"], values["seed"])
        if values["method"] == method and cell in done:
            out[cell] = unpack_bits(values["bits"], values["n"])
    return out

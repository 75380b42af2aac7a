"""A user's trained weights for the explained model (``--weights FILE``): read safely, checked
against the architecture, identified by their SHA-256.

Accepted files (``torch.save``): a state_dict (parameter name -> tensor), or a checkpoint dict
holding one under ``"state_dict"`` or ``"model"`` (other entries, such as an optimizer state or
the epoch, are ignored); a ``"module."`` prefix on every key (``nn.DataParallel``) is dropped.
Files are read with ``torch.load(weights_only=True)``, which runs no code from the file: a pickled
``nn.Module`` and TorchScript archives are refused with a message saying how to save a state_dict.
With weights the explained model is loaded, not trained; the run records the SHA-256 of the file
(``environment.json``) and names the model ``<model>@<first 12 hex digits>``.
"""

from __future__ import annotations

import functools
import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.models import create_model

__all__ = [
    "WeightsError",
    "fit_problems",
    "load_state_dict",
    "load_weights",
    "model_label",
    "pretrained_model",
    "weights_sha256",
]

#: How many names a mismatch message lists per kind.
_SHOWN = 5


class WeightsError(ValueError):
    """Weights that cannot be used (unreadable, not a state_dict, or not fitting the model).

    Attributes:
        path: The weights file.
        problem: What is wrong.
        fix: What to do instead.
    """

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"weights {path}: {problem}; {fix}")


def weights_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of the file's bytes (cached by path, size and modification time)."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def model_label(model: str, weights: str) -> str:
    """The name a run records for its model: ``model`` itself when it is trained, or
    ``model@<12 hex digits of the weights' SHA-256>`` when it is loaded from ``weights``."""
    return f"{model}@{weights_sha256(weights)[:12]}" if weights else model


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict stored in ``path`` (see the module docstring), on the CPU.

    Raises:
        WeightsError: no such file, a TorchScript archive, a file that is not a safe
            ``torch.save`` of tensors, or a dict without tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(path, "no such file", "give a file saved with "
                           "torch.save(model.state_dict(), PATH)")
    if _is_torchscript(path):
        raise WeightsError(path, "a TorchScript archive is refused (it runs code and hides the "
                           "architecture)", "save torch.save(model.state_dict(), PATH)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused or a damaged file: say what to save instead
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(path, f"cannot be read safely with weights_only=True ({first[:200]})",
                           "save the parameters only, torch.save(model.state_dict(), PATH), not "
                           "the model object") from exc
    return _state_dict_of(obj, path)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def _state_dict_of(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(path, f"holds a {type(obj).__name__}, not a state_dict", "save "
                           "torch.save(model.state_dict(), PATH), or a dict with the state_dict "
                           "under 'state_dict' or 'model'")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(path, f"the dict holds no tensors (keys: "
                           f"{', '.join(map(str, list(obj)[:_SHOWN]))})", "save model.state_dict()")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


def load_weights(model: nn.Module, path: str | Path, *, name: str = "the model") -> str:
    """Load the weights in ``path`` into ``model`` (in place), after checking that they fit it
    exactly: the same parameter and buffer names and shapes.

    Args:
        model: The architecture, freshly built.
        path: The weights file (see the module docstring).
        name: The model's name, for messages.

    Returns:
        The file's SHA-256 hex digest.

    Raises:
        WeightsError: an unreadable file, or weights that do not fit: the message counts and lists
            the missing and unexpected keys and the shape mismatches.
    """
    state = load_state_dict(path)
    expected = model.state_dict()
    problems = fit_problems(expected, state)
    if problems:
        raise WeightsError(Path(path), f"do not fit model {name}: {'; '.join(problems)}",
                           "give weights saved from this architecture, for the data's class count")
    model.load_state_dict(state, strict=True)
    return weights_sha256(path)


def fit_problems(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Why ``state`` does not fit a model whose state_dict is ``expected`` (empty: it fits)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected),
                        ("shape mismatches", shapes)):
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            problems.append(f"{len(items)} {what} ({', '.join(items[:_SHOWN])}{more})")
    return problems


def pretrained_model(
    model_name: str, weights: str | Path, num_classes: int, image_size: int
) -> tuple[nn.Module, str]:
    """Model ``model_name`` built for ``num_classes`` and ``image_size`` with ``weights`` loaded,
    in eval mode on the CPU, and the weights' SHA-256. The global RNG state is left as it was
    (building draws an initialisation the weights then replace)."""
    with torch.random.fork_rng(devices=[]):
        model = create_model(model_name, num_classes, image_size)
    sha = load_weights(model, weights, name=model_name)
    return model.eval(), sha

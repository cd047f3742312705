"""Nested training state (model, optimiser, schedule, random states) as safetensors + JSON.

A training checkpoint holds tensors nested in dictionaries, lists and tuples (an optimiser's
state dict maps parameter indices to ``{"step", "exp_avg", "exp_avg_sq"}``) beside plain
numbers (learning rates, a random generator's 128-bit state). :func:`save_state` writes every
tensor under its path in the structure (``optimizer/state/0/exp_avg``) as a safetensors
tensor, and the structure itself, with the other values, as JSON in the file's metadata; one
file, written atomically with its digest. Tuples, integer dictionary keys and the order of
keys come back as they were, so a resumed run continues bit for bit. Nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svdlib.digests import verify_artifact
from svdlib.errors import SvdError, first_line
from svdlib.files import atomic_path

FORMAT = "svdlib-training-state-1"


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON for ``value``; its tensors go to ``tensors`` under their path ``key``."""
    if isinstance(value, torch.Tensor):
        if key in tensors:
            raise ValueError(f"two tensors of the state share the path '{key}'")
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        return {"ndarray": _encode(torch.from_numpy(np.ascontiguousarray(value)), key,
                                   tensors)["tensor"]}
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            raise TypeError(f"state dictionary at '{key}' has keys other than str and int")
        return {"dict": [[k, _encode(v, _join(key, k), tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, _join(key, i), tensors) for i, v in enumerate(value)]
        return {"tuple": items} if isinstance(value, tuple) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"state value at '{key}' is a {type(value).__name__}; store tensors, "
                    "arrays, numbers, strings and containers of them")


def _join(key: str, part: str | int) -> str:
    return f"{key}/{part}" if key else str(part)


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    (kind, content), = value.items()
    if kind == "tensor":
        return tensors[content]
    if kind == "ndarray":
        return tensors[content].numpy()
    if kind == "tuple":
        return tuple(_decode(v, tensors) for v in content)
    if kind == "dict":
        return {k: _decode(v, tensors) for k, v in content}
    raise ValueError(f"unknown entry '{kind}' in the state's structure")


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a nested state (see the module) to one safetensors file, atomically.

    Parameters
    ----------
    path : str or Path
        Destination (``.safetensors``); its digest is recorded beside it.
    state : dict
        Tensors, numpy arrays, numbers, strings, None, and dicts (str or int keys), lists and
        tuples of them.
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(state, "", tensors)
    with atomic_path(path, suffix=".safetensors", digest=True) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT,
                                               "structure": json.dumps(structure)})


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`, checked against its recorded digest.

    Raises
    ------
    SvdError
        If the file does not match its digest, or is not such a state file.
    """
    from safetensors import safe_open

    path = Path(path)
    verify_artifact(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise ValueError(f"not a training state (format {metadata.get('format')!r})")
            names = handle.keys()   # a safe_open handle is not iterable itself
            tensors = {key: handle.get_tensor(key) for key in names}
        return _decode(json.loads(metadata["structure"]), tensors)
    except Exception as err:  # safetensors raises its own error types for bad files
        raise SvdError(f"training state '{path}' cannot be read ({first_line(err)}); delete it "
                       "to train from scratch") from None

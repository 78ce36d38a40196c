"""Saving and loading trained weights as safetensors: tensors only, never pickled code.

A ``.pth`` file written by ``torch.save`` is a pickle, and loading a pickle can
run any code it contains; a grader that loads students' files must not do that.
A safetensors file holds nothing but named tensors, so loading it is safe; the
architecture comes from code the grader trusts (:mod:`labkit.models`).
"""

from __future__ import annotations

from pathlib import Path

from labkit._files import replaced_atomically


def save_state(model, path: str | Path) -> Path:
    """Write ``model``'s state dict (weights and batch-norm statistics) to ``path``, atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in model.state_dict().items()}
    with replaced_atomically(path) as handle:
        handle.write(save(tensors, metadata={"format": "pt", "model": type(model).__name__}))
    return path


def load_state(model, path: str | Path, *, device="cpu"):
    """Load the weights at ``path`` into ``model`` (same architecture, every tensor) and return it."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the notebook's save cell first.")
    state = load_file(str(path), device=str(device))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"{path} does not hold the weights of this {type(model).__name__}: {error}. "
            "Build the model with the same architecture and width as the one that was saved."
        ) from None
    return model.to(device)

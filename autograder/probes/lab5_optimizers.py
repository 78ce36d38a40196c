"""Sandboxed probe: the steps a student's two optimizers take, on the grader's weights and gradients.

The grader appends a cell that calls :func:`probe` with the notebook's
``pretrain_optimizer`` and ``finetune_optimizer``. A small ``nn.Linear`` (float64)
starts from the weights in ``start.npz``; for each setting in ``settings.json``
the optimizer ``pretrain_optimizer(parameters, setting)`` makes takes one step
per gradient in ``gradients.npz``, and so does ``finetune_optimizer(parameters)``.
The weights after each run go to ``OUT/after.npz``; the grader compares them
with ``torch.optim.SGD`` and ``Adam`` doing the same steps outside the sandbox.
"""

import json
import shutil
from pathlib import Path


def layer_after(make_optimizer, start, gradients):
    """A fresh Linear at ``start``, after one step of ``make_optimizer(parameters)`` per gradient."""
    import torch
    from torch import nn

    layer = nn.Linear(start["weight"].shape[1], start["weight"].shape[0], dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(start["weight"]))
        layer.bias.copy_(torch.from_numpy(start["bias"]))
    optimizer = make_optimizer(layer.parameters())
    for weight_gradient, bias_gradient in gradients:
        layer.weight.grad = torch.from_numpy(weight_gradient.copy())
        layer.bias.grad = torch.from_numpy(bias_gradient.copy())
        optimizer.step()
    return layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()


def probe(pretrain_optimizer, finetune_optimizer, probe_dir, out_dir) -> None:
    import numpy as np

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    with np.load(probe_dir / "start.npz", allow_pickle=False) as data:
        start = {"weight": data["weight"], "bias": data["bias"]}
    with np.load(probe_dir / "gradients.npz", allow_pickle=False) as data:
        gradients = [(data[f"weight_{k}"], data[f"bias_{k}"]) for k in range(len(data.files) // 2)]
    settings = json.loads((probe_dir / "settings.json").read_text())
    after = {}
    for k, setting in enumerate(settings):
        after[f"pretrain_{k}_weight"], after[f"pretrain_{k}_bias"] = layer_after(
            lambda parameters: pretrain_optimizer(parameters, dict(setting)), start, gradients)
    after["finetune_weight"], after["finetune_bias"] = layer_after(finetune_optimizer, start, gradients)
    out_dir.mkdir(parents=True)
    np.savez(out_dir / "after.npz", **after)

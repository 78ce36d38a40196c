"""Sandboxed probe: what a student's ``SpinalHead`` computes, for head shapes the grader chose.

The grader appends a cell to the student's notebook that calls :func:`probe`
with the notebook's ``SpinalHead`` class. For each shape in ``heads.json``
(``in_features, units, num_classes, layers``) the probe builds a head, runs it
in evaluation mode twice on ``inputs-<k>.npy`` and once in training mode, and
saves its state dict (``head-<k>.safetensors``: tensors only) and the three
outputs (``outputs-<k>.npz``). The grader loads that state dict into
``labkit.models.SpinalHead`` itself and compares the outputs. Whatever was in
``OUT`` is removed before the first call, and nothing is written until every
call has returned.
"""

import json
import shutil
from pathlib import Path


def probe(spinal_head, probe_dir, out_dir) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    results = []
    for k, (in_features, units, num_classes, layers) in enumerate(json.loads((probe_dir / "heads.json").read_text())):
        inputs = torch.from_numpy(np.load(probe_dir / f"inputs-{k}.npy", allow_pickle=False))
        torch.manual_seed(k)
        head = spinal_head(in_features, units, num_classes, layers=layers).eval()
        with torch.no_grad():
            first, second = head(inputs.clone()), head(inputs.clone())
            head.train()
            training = head(inputs.clone())
        state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in head.state_dict().items()}
        results.append((state, [np.asarray(t.detach().cpu().numpy()) for t in (first, second, training)]))
    out_dir.mkdir(parents=True)
    for k, (state, (first, second, training)) in enumerate(results):
        save_file(state, str(out_dir / f"head-{k}.safetensors"))
        np.savez(out_dir / f"outputs-{k}.npz", eval_first=first, eval_second=second, train=training)

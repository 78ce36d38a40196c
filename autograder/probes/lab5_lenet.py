"""Sandboxed probe: what a student's ``LeNet`` class computes, with the weights it starts with.

The grader appends a cell that calls :func:`probe` with the notebook's
``LeNet``. The probe builds ``LeNet(num_classes=62)``, runs it in evaluation
mode on the images in ``lenet-inputs.npy`` (normalised, no labels) and saves
its state dict (``lenet.safetensors``: tensors only) and its outputs
(``outputs.npy``). The grader loads the state dict into ``labkit.models.LeNet``
and compares the outputs: the same layers in the same order compute the same
function. ``OUT`` is cleared before the call and written after it returns.
"""

import shutil
from pathlib import Path


def probe(lenet, probe_dir, out_dir) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    images = torch.from_numpy(np.load(probe_dir / "lenet-inputs.npy", allow_pickle=False))
    torch.manual_seed(0)
    network = lenet(num_classes=62).eval()
    with torch.no_grad():
        outputs = network(images.clone()).detach().cpu().numpy()
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in network.state_dict().items()}
    out_dir.mkdir(parents=True)
    save_file(state, str(out_dir / "lenet.safetensors"))
    np.save(out_dir / "outputs.npy", np.asarray(outputs), allow_pickle=False)

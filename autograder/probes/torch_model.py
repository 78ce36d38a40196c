"""Sandboxed probe: what saved PyTorch state dicts predict, loaded into the instructor's networks.

``python torch_model.py JOBS OUT`` reads ``JOBS`` (JSON, written by the grader):
for each job, a safetensors file, the network to build with
``labkit.models.build(architecture, num_classes=..., width=..., **options)``
and an ``.npy`` of normalised images. The file is loaded strictly (every
tensor, every name, every shape) into that network, which then runs in
evaluation mode on the images; its outputs go to ``OUT/<name>.npy``, or why it
could not to ``OUT/<name>.json``; then the file's weights fingerprint and
similarity sketch (``weights_fingerprint.py``, copied beside this script) to
``OUT/<name>-weights.json``. The images come without labels, so the
accuracy can only be computed by the grader. No code from a student runs here:
the files are tensors, the classes are labkit's.
"""

import json
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # after every installed module (-I leaves this folder out)
import weights_fingerprint  # noqa: E402

BATCH = 1000


def predict(job: dict):
    import numpy as np
    import torch
    from safetensors.torch import load_file

    from labkit import models

    network = models.build(job["architecture"], num_classes=job["num_classes"], width=job["width"], **job["options"])
    network.load_state_dict(load_file(job["file"]), strict=True)
    network.eval()
    inputs = torch.from_numpy(np.load(job["inputs"], allow_pickle=False))
    with torch.no_grad():
        return torch.cat([network(inputs[start:start + BATCH]) for start in range(0, len(inputs), BATCH)]).numpy()


def main(jobs_path: str, out: str) -> None:
    import numpy as np
    from safetensors.numpy import load_file

    out_dir = Path(out)
    for job in json.loads(Path(jobs_path).read_text()):
        try:
            outputs = predict(job)
        except Exception as error:  # a file that does not fit is the finding
            problem = f"{type(error).__name__}: {error}"[:4000]
            (out_dir / f"{job['name']}.json").write_text(json.dumps({"problem": problem}))
            continue
        np.save(out_dir / f"{job['name']}.npy", outputs, allow_pickle=False)
        weights = weights_fingerprint.report(load_file(job["file"]).values())
        (out_dir / f"{job['name']}-weights.json").write_text(json.dumps(weights))


if __name__ == "__main__":
    main(*sys.argv[1:])

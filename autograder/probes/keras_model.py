"""Sandboxed probe: what saved Keras models are, and what they predict.

``python keras_model.py INPUTS INPUT_SHAPE_JSON MODEL OUT [MODEL OUT ...]``
probes each ``MODEL`` in turn, in one process, so that TensorFlow starts once
for all the files of a submission. Each is loaded in Keras' safe mode (no code
from the file runs); its ``OUT`` gets ``summary.json`` (the layers
``labkit.check`` measures with one forward pass), then ``predictions.npy`` (the
model's outputs for the evaluation images in ``INPUTS``), then ``weights.json``
(the weights' fingerprint and similarity sketch, from ``weights_fingerprint.py``
copied beside this script, by which the grader finds copies handed in by
several students), and last ``done``: that file's probing went to its end. The
sandbox it runs in sees the models and the images, never their labels, so the
accuracy can only be computed by the grader. A file that cannot be loaded or
run ends the process (its error is the last line on stderr); the grader probes
each file left without ``done`` again, alone.
"""

import json
import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # after every installed module (-I leaves this folder out)
import weights_fingerprint  # noqa: E402

DONE = "done"
"""Written into a model's ``OUT`` after everything else: its probing went to its end."""


def summary_as_json(summary) -> dict:
    layers = [{"kind": layer.kind, "attributes": dict(layer.attributes), "source": layer.source}
              for layer in summary.layers]
    return {"layers": layers, "input_shape": list(summary.input_shape),
            "output_shape": list(summary.output_shape), "params": int(summary.params)}


def plain(value):
    """numpy scalars as Python numbers, for json."""
    return value.item() if hasattr(value, "item") else str(value)


def probe(model_path: str, inputs, input_shape: tuple, out_dir: Path) -> None:
    """Describe one saved model, run it on ``inputs`` and fingerprint its weights, into ``out_dir``."""
    import keras
    import numpy as np

    from labkit.check import _keras as adapter

    model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    try:
        report = {"summary": summary_as_json(adapter.describe(model, input_shape))}
    except Exception as error:  # the model's own failure is the finding
        report = {"summary_error": f"{type(error).__name__}: {error}"[:2000]}
    (out_dir / "summary.json").write_text(json.dumps(report, default=plain))
    predictions = keras.ops.convert_to_numpy(model.predict(inputs, batch_size=1000, verbose=0))
    np.save(out_dir / "predictions.npy", np.asarray(predictions), allow_pickle=False)
    weights = weights_fingerprint.report(keras.ops.convert_to_numpy(variable) for variable in model.weights)
    (out_dir / "weights.json").write_text(json.dumps(weights))
    (out_dir / DONE).write_text(DONE)


def main(inputs_path: str, input_shape: str, *models_and_outs: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    inputs = np.load(inputs_path, allow_pickle=False)
    shape = tuple(json.loads(input_shape))
    for model_path, out in zip(models_and_outs[::2], models_and_outs[1::2], strict=True):
        probe(model_path, inputs, shape, Path(out))
        keras.backend.clear_session()  # the next file starts from Keras' state as a process of its own has it


if __name__ == "__main__":
    main(*sys.argv[1:])

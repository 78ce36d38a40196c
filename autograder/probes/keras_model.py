"""Sandboxed probe: what one saved Keras model is, and what it predicts.

``python keras_model.py MODEL INPUTS INPUT_SHAPE_JSON OUT`` loads ``MODEL`` in
Keras' safe mode (no code from the file runs), writes ``OUT/summary.json`` (the
layers ``labkit.check`` measures with one forward pass) and then
``OUT/predictions.npy`` (the model's outputs for the evaluation images in
``INPUTS``). The sandbox it runs in sees the model and the images, never their
labels, so the accuracy can only be computed by the grader. Last, it writes ``OUT/weights.json``: the weights' fingerprint and similarity
sketch (``weights_fingerprint.py``, copied beside this script), by which the
grader finds copies handed in by several students.
"""

import json
import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # after every installed module (-I leaves this folder out)
import weights_fingerprint  # noqa: E402


def summary_as_json(summary) -> dict:
    layers = [{"kind": layer.kind, "attributes": dict(layer.attributes), "source": layer.source}
              for layer in summary.layers]
    return {"layers": layers, "input_shape": list(summary.input_shape),
            "output_shape": list(summary.output_shape), "params": int(summary.params)}


def plain(value):
    """numpy scalars as Python numbers, for json."""
    return value.item() if hasattr(value, "item") else str(value)


def main(model_path: str, inputs_path: str, input_shape: str, out: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    from labkit.check import _keras as adapter

    out_dir = Path(out)
    model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    try:
        report = {"summary": summary_as_json(adapter.describe(model, tuple(json.loads(input_shape))))}
    except Exception as error:  # the model's own failure is the finding
        report = {"summary_error": f"{type(error).__name__}: {error}"[:2000]}
    (out_dir / "summary.json").write_text(json.dumps(report, default=plain))
    inputs = np.load(inputs_path, allow_pickle=False)
    predictions = keras.ops.convert_to_numpy(model.predict(inputs, batch_size=1000, verbose=0))
    np.save(out_dir / "predictions.npy", np.asarray(predictions), allow_pickle=False)
    weights = weights_fingerprint.report(keras.ops.convert_to_numpy(variable) for variable in model.weights)
    (out_dir / "weights.json").write_text(json.dumps(weights))


if __name__ == "__main__":
    main(*sys.argv[1:])

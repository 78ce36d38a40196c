"""Scripts the grader runs *inside* the sandbox, each as a file of its own.

They are copied into a sandbox's read-only folder and run with the course's
Python; they import only numpy, Keras, nbclient and labkit, never
``autograder``, which the sandbox cannot see. What they write is data for the
grader to validate (JSON, ``.npy``, ``.npz``), never trusted.
"""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
KERAS_MODEL = FOLDER / "keras_model.py"
RUN_NOTEBOOK = FOLDER / "run_notebook.py"
KERAS_TRAIN_STEP = FOLDER / "keras_train_step.py"
PREDICTED_CLASSES = FOLDER / "predicted_classes.py"
COMPILE_AND_FIT = FOLDER / "compile_and_fit.py"
LAB2_NORMALIZED_CONFUSION = FOLDER / "lab2_normalized_confusion.py"
ANNEALER = FOLDER / "annealer.py"
AUGMENTATION = FOLDER / "augmentation.py"
TORCH_MODEL = FOLDER / "torch_model.py"
WEIGHTS_FINGERPRINT = FOLDER / "weights_fingerprint.py"  # imported by the two model probes
LAB5_SPINAL_HEAD = FOLDER / "lab5_spinal_head.py"
LAB5_RANDOM_SEARCH = FOLDER / "lab5_random_search.py"
LAB5_WEIGHTED_SCORES = FOLDER / "lab5_weighted_scores.py"
LAB5_LENET = FOLDER / "lab5_lenet.py"

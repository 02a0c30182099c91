"""Inference code as a TensorFlow Elastic Inference user writes it with EIPredictor, run
unchanged but for its import. MODEL_DIR holds the SavedModel exported to ONNX (model.onnx).

usage: eipredictor_classify.py MODEL_DIR INPUT.npy OUTPUT.npy ACCELERATOR_ID"""
import sys

import numpy as np
from tether import EIPredictor  # was: from ei_for_tf.python.predictor.ei_predictor import EIPredictor

model_dir, input_path, output_path, accelerator = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

eia_predictor = EIPredictor(model_dir=model_dir,
                            signature_def_key="serving_default",
                            input_names={"inputs": "x:0"},
                            output_names={"scores": "y:0"},
                            use_ei=True,
                            accelerator_id=accelerator)

image_batch = np.load(input_path)
eia_results = eia_predictor({"inputs": image_batch})
print("scores:", eia_results["scores"].shape)

# The same model on the host's CPU, as EI users compared.
cpu_predictor = EIPredictor(model_dir, input_names={"inputs": "x:0"}, output_names={"scores": "y:0"},
                            use_ei=False)
cpu_results = cpu_predictor({"inputs": image_batch})
print("max difference from CPU:", float(np.max(np.abs(cpu_results["scores"] - eia_results["scores"]))))

np.save(output_path, eia_results["scores"])

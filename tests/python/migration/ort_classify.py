"""Inference code as an ONNX Runtime user writes it, run unchanged but for its import.

usage: ort_classify.py MODEL.onnx INPUT.npy OUTPUT.npy"""
import sys

import numpy as np
import tether as ort  # was: import onnxruntime as ort

model_path, input_path, output_path = sys.argv[1:4]

sess_options = ort.SessionOptions()
sess_options.intra_op_num_threads = 2
sess_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL

# Prefer the GPU when there is one, as deployment code usually does.
providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
session = ort.InferenceSession(model_path, sess_options=sess_options, providers=providers)
print("available:", ort.get_available_providers())
print("providers:", session.get_providers())

input_meta = session.get_inputs()[0]
print("input:", input_meta.name, input_meta.shape, input_meta.type)
for out in session.get_outputs():
    print("output:", out.name, out.shape, out.type)

x = np.load(input_path)
if input_meta.type == "tensor(float)":
    x = x.astype(np.float32)

outputs = session.run(None, {input_meta.name: x})
scores = outputs[0]
print("top-1:", [int(i) for i in np.argmax(scores, axis=1)])

# the same output fetched by name, with run options
run_options = ort.RunOptions()
run_options.log_severity_level = 3
(named,) = session.run([session.get_outputs()[0].name], {input_meta.name: x}, run_options)
assert np.array_equal(named, scores)

np.save(output_path, scores)

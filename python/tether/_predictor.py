"""tether.Predictor: the shape of TensorFlow's EIPredictor over a tether Session, so code
written for Elastic Inference moves over with one import changed::

    from tether import Predictor as EIPredictor
    predictor = EIPredictor("model_dir", input_names={"inputs": "x"}, output_names={"scores": "y"},
                            accelerator_id=0)
    scores = predictor({"inputs": batch})["scores"]
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np

from ._errors import InvalidArgumentError, NotFoundError, TetherError
from ._session import Session


def _find_model(model_dir_or_path) -> Path:
    p = Path(os.fspath(model_dir_or_path))
    if p.is_file():
        return p
    if not p.is_dir():
        raise NotFoundError(f"no model at '{p}': give an .onnx file or a directory holding one")
    if (p / "model.onnx").is_file():
        return p / "model.onnx"
    found = sorted(p.glob("*.onnx"))
    if len(found) == 1:
        return found[0]
    if not found:
        hint = (" It holds a TensorFlow SavedModel: export it to ONNX first (e.g. with tf2onnx)."
                if (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists() else "")
        raise NotFoundError(f"no .onnx model in '{p}'.{hint}")
    raise InvalidArgumentError(f"'{p}' holds {len(found)} .onnx models ({', '.join(f.name for f in found)}): "
                               "name one, or call it model.onnx")


class Predictor:
    """A model ready to be called with a dict of arrays, like EIPredictor.

    ``input_names`` maps the keys callers use to the model's input names, and
    ``output_names`` the keys of the result to the model's output names (TensorFlow-style
    names such as ``"x:0"`` are accepted for ``"x"``). Without them the model's own names
    are the keys and every output is returned. ``use_accelerator`` (``use_ei`` is the same
    option under EIPredictor's name) runs the model on the attached accelerator
    ``accelerator_id`` (target ``eia:N``); False runs it on this host's CPU."""

    def __init__(self, model_dir_or_path, input_names: Mapping[str, str] | None = None,
                 output_names: Mapping[str, str] | None = None, use_accelerator: bool = True,
                 accelerator_id: int | None = 0, *, use_ei: bool | None = None, signature_def_key=None,
                 tags=None, config=None, quiet: bool = False):
        if use_ei is not None:
            use_accelerator = use_ei
        for opt, val in (("signature_def_key", signature_def_key), ("tags", tags), ("config", config)):
            if val is not None:
                warnings.warn(f"Predictor: {opt} is a TensorFlow option with no ONNX equivalent; ignored",
                              stacklevel=2)
        self.model_path = _find_model(model_dir_or_path)
        self.target = f"eia:{0 if accelerator_id is None else int(accelerator_id)}" if use_accelerator else "cpu"
        try:
            self.session = Session(self.model_path, target=self.target, quiet=quiet)
        except TetherError as e:
            if not use_accelerator:
                raise
            raise type(e)(f"{e.message}. To run on accelerator {self.target}, attach one first "
                          "(tether attach TYPE --server HOST:PORT, or tether.attach()); to run on this "
                          "host's CPU, pass use_accelerator=False") from e
        model_inputs = [i.name for i in self.session.inputs]
        model_outputs = [o.name for o in self.session.outputs]
        self.input_names = dict(input_names) if input_names else {n: n for n in model_inputs}
        self.output_names = dict(output_names) if output_names else {n: n for n in model_outputs}
        self._in = {k: self._resolve(v, model_inputs, "input") for k, v in self.input_names.items()}
        self._out = {k: self._resolve(v, model_outputs, "output") for k, v in self.output_names.items()}

    @staticmethod
    def _resolve(name: str, names: list[str], what: str) -> str:
        if name in names:
            return name
        base = name.rsplit(":", 1)[0] if ":" in name else name
        if base in names:
            return base  # a TensorFlow tensor name, "x:0"
        raise InvalidArgumentError(f"the model has no {what} '{name}' (its {what}s: {', '.join(names) or 'none'})")

    @property
    def inputs(self):
        return self.session.inputs

    @property
    def outputs(self):
        return self.session.outputs

    def __call__(self, feed_dict: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Runs the model on ``feed_dict`` (keys as in ``input_names``) and returns the outputs
        keyed as in ``output_names``."""
        feeds = {}
        for key, value in feed_dict.items():
            if key not in self._in:
                raise InvalidArgumentError(f"unknown input key '{key}' (the keys: {', '.join(self._in)})")
            feeds[self._in[key]] = value
        out = self.session.run(feeds, output_names=list(dict.fromkeys(self._out.values())))
        return {key: out[name] for key, name in self._out.items()}

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
        # The library recognises other frameworks' files (a SavedModel, TorchScript, MXNet)
        # and says how to export them: ask it about the folder and what is in it.
        for cand in [p] + sorted(q for q in p.iterdir() if q.is_file()):
            if _other_format(cand):
                Session(cand, quiet=True)  # raises UnsupportedError with the export command
        raise NotFoundError(f"no .onnx model in '{p}': export the model to ONNX and save it there as model.onnx")
    raise InvalidArgumentError(f"'{p}' holds {len(found)} .onnx models ({', '.join(f.name for f in found)}): "
                               "name one, or call it model.onnx")


def _other_format(p: Path) -> bool:
    if p.is_dir():
        return (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists()
    name = p.name.lower()
    return name.endswith((".pt", ".pth", ".torchscript", "-symbol.json", ".params", ".pb"))


class Predictor:
    """A model ready to be called with a dict of arrays, like EIPredictor.

    ``input_names`` maps the keys callers use to the model's input names, and
    ``output_names`` the keys of the result to the model's output names (TensorFlow-style
    names such as ``"x:0"`` are accepted for ``"x"``). Without them the model's own names
    are the keys and every output is returned. ``use_accelerator`` (``use_ei`` is the same
    option under EIPredictor's name) runs the model on the attached accelerator
    ``accelerator_id`` (target ``eia:N``); False runs it on this host's CPU."""

    _switch = "use_accelerator"  # the option's name in error messages

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
                          f"host's CPU, pass {self._switch}=False") from e
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


class EIPredictor(Predictor):
    """TensorFlow's EIPredictor, in its exact shape, over a tether session::

        predictor = EIPredictor(model_dir="export/1", input_names={"inputs": "image_tensor:0"},
                                output_names={"scores": "detection_scores:0"}, use_ei=True, accelerator_id=0)
        scores = predictor({"inputs": image})["scores"]

    ``model_dir`` holds the model exported to ONNX (``model.onnx``, or the one .onnx file in
    it; a SavedModel folder without one is refused with the tf2onnx command that exports
    it). ``input_names`` / ``output_names`` map feed and result keys to tensor names
    (``"x:0"`` names the ONNX value ``x``); without them the model's own names are the keys.
    ``use_ei`` runs on the attached accelerator ``accelerator_id`` (target ``eia:N``, 0 when
    None), else on this host's CPU. ``signature_def_key``, ``signature_def`` and ``tags``
    choose what tf2onnx converted and are not needed again; ``graph`` and ``config`` are
    TensorFlow objects with no meaning here (a warning says so when given)."""

    _switch = "use_ei"

    def __init__(self, model_dir=None, signature_def_key=None, signature_def=None, input_names=None,
                 output_names=None, tags=None, graph=None, config=None, use_ei=True, accelerator_id=None):
        if model_dir is None:
            raise InvalidArgumentError("EIPredictor needs model_dir: the folder (or file) of the model exported "
                                       "to ONNX")
        for opt, val in (("graph", graph), ("config", config)):
            if val is not None:
                warnings.warn(f"EIPredictor: {opt} is a TensorFlow object with no meaning for an ONNX model; "
                              "ignored", stacklevel=2)
        self.signature_def_key = signature_def_key
        super().__init__(model_dir, input_names=input_names, output_names=output_names, use_accelerator=use_ei,
                         accelerator_id=0 if accelerator_id is None else accelerator_id, quiet=True)
        self.use_ei = bool(use_ei)
        self.accelerator_id = 0 if accelerator_id is None else int(accelerator_id)

    @property
    def feed_tensors(self) -> dict:
        """Feed key -> the model input it feeds (a TensorInfo)."""
        by = {i.name: i for i in self.session.inputs}
        return {k: by[v] for k, v in self._in.items()}

    @property
    def fetch_tensors(self) -> dict:
        """Result key -> the model output it returns (a TensorInfo)."""
        by = {o.name: o for o in self.session.outputs}
        return {k: by[v] for k, v in self._out.items()}

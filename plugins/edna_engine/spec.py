"""model.json: the classes, input preprocessing and output a model expects, parsed and checked."""

from __future__ import annotations

import math
from dataclasses import dataclass

LAYOUTS = ("flat", "nchw", "nhwc")
RESAMPLES = ("box", "bilinear", "nearest")
KINDS = ("probabilities", "logits")
MAX_SIDE = 4096


@dataclass(frozen=True)
class Spec:
    """A parsed, valid model.json."""

    class_names: tuple[str, ...]
    width: int
    height: int
    channels: int
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str
    resample: str
    output_name: str | None = None
    output_kind: str = "probabilities"
    embedding_output: str | None = None  # an output of shape [N, D]: one embedding per item

    @property
    def classifies(self) -> bool:
        """False for an embedding-only model (no classes)."""
        return bool(self.class_names)

    @property
    def item_shape(self) -> tuple[int, ...]:
        """One preprocessed item as the model sees it (without the batch axis)."""
        h, w, c = self.height, self.width, self.channels
        return {"flat": (h * w * c,), "nchw": (c, h, w), "nhwc": (h, w, c)}[self.layout]

    @property
    def item_bytes(self) -> int:
        """Bytes of one preprocessed float32 item."""
        return self.height * self.width * self.channels * 4


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def spec_errors(d) -> list[str]:
    """Everything wrong with a model.json document; empty when it is fine."""
    if not isinstance(d, dict):
        return ["model.json must be an object"]
    errors = []
    if d.get("format", "onnx") != "onnx":
        errors.append(f"format must be 'onnx' (got {d.get('format')!r})")
    embedding = d.get("embedding_output")
    if embedding is not None and (not isinstance(embedding, str) or not embedding):
        errors.append("embedding_output must be a non-empty string (an output's name) or null")
    names = d.get("class_names")
    embedding_only = embedding is not None and names == []
    if not embedding_only and (
        not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names)
    ):
        errors.append("class_names must be a list of at least two non-empty strings (or empty with embedding_output)")
    elif len(set(names)) != len(names):
        errors.append("class_names must not repeat a name")
    inp = d.get("input")
    if not isinstance(inp, dict):
        return [*errors, "input must be an object"]
    for side in ("width", "height"):
        if not _is_int(inp.get(side)) or not 1 <= inp[side] <= MAX_SIDE:
            errors.append(f"input.{side} must be an integer between 1 and {MAX_SIDE}")
    channels = inp.get("channels")
    if channels not in (1, 3) or not _is_int(channels):
        errors.append("input.channels must be 1 or 3")
        channels = None
    if not _is_number(inp.get("scale")) or inp["scale"] == 0:
        errors.append("input.scale must be a non-zero number")
    for name in ("mean", "std"):
        values = inp.get(name)
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            errors.append(f"input.{name} must be a list of numbers, one per channel")
        elif channels and len(values) != channels:
            errors.append(f"input.{name} must have {channels} value(s), one per channel (got {len(values)})")
        elif name == "std" and any(v == 0 for v in values):
            errors.append("input.std must not contain 0")
    if inp.get("layout") not in LAYOUTS:
        errors.append(f"input.layout must be one of {', '.join(LAYOUTS)} (got {inp.get('layout')!r})")
    if inp.get("resample", "box") not in RESAMPLES:
        errors.append(f"input.resample must be one of {', '.join(RESAMPLES)} (got {inp.get('resample')!r})")
    out = d.get("output")
    if out is not None:
        if not isinstance(out, dict):
            errors.append("output must be an object")
        else:
            if out.get("name") is not None and (not isinstance(out["name"], str) or not out["name"]):
                errors.append("output.name must be a non-empty string or null")
            if out.get("kind", "probabilities") not in KINDS:
                errors.append(f"output.kind must be one of {', '.join(KINDS)} (got {out.get('kind')!r})")
            if embedding and names and out.get("name") == embedding:
                # One output cannot be both the class scores and the vectors.
                errors.append(f"output.name and embedding_output must name different outputs (both are {embedding!r})")
    return errors


def parse_spec(d) -> Spec:
    """A Spec from a model.json document; ValueError naming every problem."""
    errors = spec_errors(d)
    if errors:
        raise ValueError("invalid model.json: " + "; ".join(errors))
    inp, out = d["input"], d.get("output") or {}
    return Spec(
        class_names=tuple(d["class_names"]),
        width=inp["width"],
        height=inp["height"],
        channels=inp["channels"],
        scale=float(inp["scale"]),
        mean=tuple(float(v) for v in inp["mean"]),
        std=tuple(float(v) for v in inp["std"]),
        layout=inp["layout"],
        resample=inp.get("resample", "box"),
        output_name=out.get("name"),
        output_kind=out.get("kind", "probabilities"),
        embedding_output=d.get("embedding_output"),
    )

"""Does an ONNX model fit its model.json? Pure Python, so the service can tell without onnxruntime.

The same checks run on onnxruntime's NodeArgs when the engine loads the model for a job.
"""

from __future__ import annotations

from collections.abc import Sequence

from edna_engine.onnx_signature import Arg, Buffer, ExternalData, NotOnnx, read_signature, refuse_external_data
from edna_engine.spec import Spec, parse_spec, spec_errors


def _describe(arg) -> str:
    dims = ", ".join("N" if not isinstance(d, int) else str(d) for d in arg.shape)
    return f"'{arg.name}' {arg.type} [{dims}]"


def input_errors(inputs: Sequence[Arg], spec: Spec) -> list[str]:
    """Why the model's input cannot take the preprocessed batch; empty when it can."""
    if len(inputs) != 1:
        described = ", ".join(_describe(i) for i in inputs) or "none"
        return [f"the model must have exactly one input; it has {len(inputs)} ({described})"]
    arg = inputs[0]
    expected = (None, *spec.item_shape)
    wanted = f"[N, {', '.join(str(d) for d in spec.item_shape)}]"
    errors = []
    if arg.type != "tensor(float)":
        errors.append(f"the model's input must be tensor(float); it is {_describe(arg)}")
    if len(arg.shape) != len(expected):
        errors.append(f"the model's input {_describe(arg)} does not fit the {spec.layout} layout's {wanted}")
        return errors
    if isinstance(arg.shape[0], int):
        errors.append(f"the model's input {_describe(arg)} has a fixed batch size; export it with a dynamic one")
    if any(isinstance(got, int) and got != want for got, want in zip(arg.shape[1:], expected[1:], strict=True)):
        errors.append(
            f"the model's input {_describe(arg)} does not fit the preprocessed items {wanted} "
            f"({spec.width}x{spec.height}, {spec.channels} channel(s), {spec.layout} layout)"
        )
    return errors


def pick_output(outputs: Sequence[Arg], spec: Spec) -> tuple[str | None, list[str]]:
    """The output holding one score per class: the named one, else the first float [N, classes] output."""
    n = len(spec.class_names)
    described = ", ".join(_describe(o) for o in outputs)

    def fits(o) -> bool:
        last = o.shape[-1] if o.shape else None
        return o.type == "tensor(float)" and len(o.shape) == 2 and (last == n or not isinstance(last, int))

    if spec.output_name is not None:
        named = [o for o in outputs if o.name == spec.output_name]
        if not named:
            return None, [f"output {spec.output_name!r} is not among the model's outputs ({described})"]
        if not fits(named[0]):
            return None, [f"output {_describe(named[0])} must be float [N, {n}], one score per class ({n} classes)"]
        return spec.output_name, []
    for o in outputs:
        if o.type == "tensor(float)" and len(o.shape) == 2 and o.shape[-1] == n:
            return o.name, []
    wanted = f"no float output of shape [N, {n}] (one score per class; model.json lists {n})"
    return None, [f"{wanted}; outputs: {described}"]


def embedding_errors(outputs: Sequence[Arg], spec: Spec) -> list[str]:
    """Why the named embedding output cannot give one float vector per item; empty when it can."""
    if spec.embedding_output is None:
        return []
    named = [o for o in outputs if o.name == spec.embedding_output]
    if not named:
        described = ", ".join(_describe(o) for o in outputs)
        return [f"embedding output {spec.embedding_output!r} is not among the model's outputs ({described})"]
    arg = named[0]
    last = arg.shape[-1] if arg.shape else None
    if arg.type != "tensor(float)" or len(arg.shape) != 2 or (isinstance(last, int) and last < 1):
        return [f"embedding output {_describe(arg)} must be float [N, D], one vector per item"]
    return []


def embedding_dims(outputs: Sequence[Arg], spec: Spec) -> int | None:
    """D of the embedding output when the graph declares it."""
    named = [o for o in outputs if o.name == spec.embedding_output]
    last = named[0].shape[-1] if named and named[0].shape else None
    return last if isinstance(last, int) else None


def check_outputs(outputs: Sequence[Arg], spec: Spec) -> tuple[str | None, list[str]]:
    """The class output (None for an embedding-only model) and everything wrong with the outputs."""
    errors = embedding_errors(outputs, spec)
    if not spec.classifies:
        return None, errors
    others = [o for o in outputs if o.name != spec.embedding_output]
    name, output_errors = pick_output(others, spec)
    return name, output_errors + errors


def validate_model(model_bytes: Buffer, spec: dict) -> list[str]:
    """Everything that keeps this model and model.json from running together; empty when they fit.

    What the declared shapes do not say (a dimension fixed inside the graph, an operator the
    runtime lacks) shows when a job loads the model, and fails that job with onnxruntime's words.
    """
    errors = spec_errors(spec)
    try:
        refuse_external_data(model_bytes)
        signature = read_signature(model_bytes)
    except ExternalData as e:
        return [*errors, str(e)]
    except NotOnnx as e:
        return [*errors, f"this is not a readable ONNX model: {e}"]
    if errors:
        return errors
    parsed = parse_spec(spec)
    _, output_errors = check_outputs(signature.outputs, parsed)
    return input_errors(signature.inputs, parsed) + output_errors


def declared_embedding_dims(model_bytes: Buffer, spec: dict) -> int | None:
    """D of a checked model's embedding output, as its graph declares it (None if not declared)."""
    parsed = parse_spec(spec)
    return embedding_dims(read_signature(model_bytes).outputs, parsed) if parsed.embedding_output else None

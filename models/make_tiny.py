"""Tiny deterministic ONNX models for the tests, built with the ``onnx`` helper API (no torch).

* :func:`make_extractor` — two stride-2 3×3 convolutions with ReLU (3 → 8 → ``channels``), then
  either GeM (eq. 8 of Wang & Qi, ``p`` fixed in the graph) + L2 normalisation (``output="vector"``)
  or the raw feature map (``output="feature_map"``), for dscref to pool. The same ``seed`` gives
  the same convolution weights in both variants, so the two can be compared.
* :func:`make_classifier` — one convolution, global average pooling and a ``n_classes``-way linear
  layer (1000 by default, like ImageNet).
* :func:`make_bad_model` — deliberately wrong models for the validation tests.
* :func:`make_failing_model` — models that load but fail or misbehave when run.

All inputs are ``image`` of shape (N, 3, H, W) with symbolic N, H, W; opset 17.

Usage: ``python models/make_tiny.py OUT_DIR`` writes all of them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OPSET = 17


def _onnx():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


def _conv_weights(rng, c_out, c_in, k=3):
    scale = np.sqrt(2.0 / (c_in * k * k))
    return (rng.standard_normal((c_out, c_in, k, k)) * scale).astype(np.float32)


def _backbone(rng, channels):
    """Nodes and initialisers of the tiny backbone: image -> fmap (N, channels, H/4, W/4)."""
    onnx, TensorProto, helper, numpy_helper = _onnx()
    inits = [
        numpy_helper.from_array(_conv_weights(rng, 8, 3), "w1"),
        numpy_helper.from_array((rng.standard_normal(8) * 0.1).astype(np.float32), "b1"),
        numpy_helper.from_array(_conv_weights(rng, channels, 8), "w2"),
        numpy_helper.from_array((rng.standard_normal(channels) * 0.1 + 0.1).astype(np.float32), "b2"),
    ]
    conv = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], **conv),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], **conv),
        helper.make_node("Relu", ["c2"], ["fmap"]),
    ]
    return nodes, inits


def _save(graph, path, extra_opsets=None):
    onnx, *_ = _onnx()
    opsets = [onnx.helper.make_opsetid("", OPSET)]
    opsets += [onnx.helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="dscref-make_tiny")
    model.ir_version = 8  # readable by every onnxruntime >= 1.13
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _image_input():
    onnx, TensorProto, helper, _ = _onnx()
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])


def make_extractor(path, seed: int = 0, channels: int = 16, p: float = 3.0,
                   output: str = "vector", eps: float = 1e-6):
    """Write a tiny extractor; returns the path.

    ``output="vector"``: ``descriptor`` (N, channels) = L2-normalise(GeM_p(fmap)).
    ``output="feature_map"``: ``fmap`` (N, channels, H', W') with H' = ceil(ceil(H/2)/2).
    """
    onnx, TensorProto, helper, numpy_helper = _onnx()
    if output not in ("vector", "feature_map"):
        raise ValueError(f"output={output!r} must be 'vector' or 'feature_map'")
    rng = np.random.default_rng(seed)
    nodes, inits = _backbone(rng, channels)
    if output == "feature_map":
        out = helper.make_tensor_value_info("fmap", TensorProto.FLOAT, ["N", channels, "h", "w"])
    else:
        inits += [
            numpy_helper.from_array(np.array(eps, np.float32), "eps"),
            numpy_helper.from_array(np.array(p, np.float32), "p"),
            numpy_helper.from_array(np.array(1.0 / p, np.float32), "inv_p"),
            numpy_helper.from_array(np.array(1e-12, np.float32), "tiny"),
        ]
        nodes += [
            # GeM, eq. (8): (mean_{H,W} max(x, eps)^p)^(1/p)
            helper.make_node("Max", ["fmap", "eps"], ["clamped"]),
            helper.make_node("Pow", ["clamped", "p"], ["powed"]),
            helper.make_node("ReduceMean", ["powed"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("Pow", ["mean", "inv_p"], ["pooled"]),
            # L2 normalisation
            helper.make_node("ReduceL2", ["pooled"], ["norm"], axes=[1], keepdims=1),
            helper.make_node("Max", ["norm", "tiny"], ["safe_norm"]),
            helper.make_node("Div", ["pooled", "safe_norm"], ["descriptor"]),
        ]
        out = helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", channels])
    graph = helper.make_graph(nodes, f"tiny_extractor_{output}", [_image_input()], [out], inits)
    return _save(graph, path)


def make_classifier(path, seed: int = 0, n_classes: int = 1000, channels: int = 16):
    """Write a tiny classifier with output ``logits`` (N, n_classes); returns the path."""
    onnx, TensorProto, helper, numpy_helper = _onnx()
    rng = np.random.default_rng(seed)
    nodes, inits = _backbone(rng, channels)
    inits += [
        numpy_helper.from_array((rng.standard_normal((n_classes, channels)) * 0.5).astype(np.float32), "fc_w"),
        numpy_helper.from_array((rng.standard_normal(n_classes) * 0.1).astype(np.float32), "fc_b"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", ["fmap"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_classes])
    graph = helper.make_graph(nodes, "tiny_classifier", [_image_input()], [out], inits)
    return _save(graph, path)


def make_bad_model(path, kind: str):
    """Write a model that dscref must refuse.

    kind : ``"input_rank"`` (input (N, 3) instead of (N, 3, H, W)), ``"channels"`` (input with 1
    channel), ``"int_input"`` (int64 input), ``"output_rank"`` (3-D output), ``"unknown_op"`` (a
    valid ONNX file using an operator onnxruntime does not know: fails at session creation).
    """
    onnx, TensorProto, helper, numpy_helper = _onnx()
    if kind == "input_rank":
        inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3])
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
        nodes = [helper.make_node("Relu", ["image"], ["y"])]
    elif kind == "channels":
        inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])
        nodes = [helper.make_node("ReduceMean", ["image"], ["y"], axes=[2, 3], keepdims=0)]
    elif kind == "int_input":
        inp = helper.make_tensor_value_info("image", TensorProto.INT64, ["N", 3, "H", "W"])
        out = helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 3, "H", "W"])
        nodes = [helper.make_node("Identity", ["image"], ["y"])]
    elif kind == "output_rank":
        inp = _image_input()
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H"])
        nodes = [helper.make_node("ReduceMean", ["image"], ["y"], axes=[3], keepdims=0)]
    elif kind == "unknown_op":
        inp = _image_input()
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1000])
        nodes = [helper.make_node("NoSuchOp", ["image"], ["y"], domain="org.dscref.test")]
        graph = helper.make_graph(nodes, f"bad_{kind}", [inp], [out], [])
        return _save(graph, path, extra_opsets={"org.dscref.test": 1})
    else:
        raise ValueError(f"kind={kind!r} is not one of input_rank, channels, int_input, output_rank, "
                         f"unknown_op")
    graph = helper.make_graph(nodes, f"bad_{kind}", [inp], [out], [])
    return _save(graph, path)


def make_failing_model(path, kind: str, n_out: int = 1000):
    """Write a model that loads (input (N, 3, H, W), output ``y`` (N, n_out)) but misbehaves when run.

    kind : ``"nan_output"`` — ``y = log(mean over H, W of the image) @ ones(3, n_out)``: NaN rows for
    images with a channel of negative normalised mean (dark images), finite for bright ones;
    ``"runtime_fail"`` — ``y = reshape(image, (-1, n_out))``: onnxruntime fails whenever
    ``3·H·W`` is not a multiple of ``n_out``; ``"batch_collapse"`` — one row (1, 3) of channel
    means for the whole batch, whatever N (declared output (N, 3)).
    """
    onnx, TensorProto, helper, numpy_helper = _onnx()
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])
    if kind == "nan_output":
        inits = [numpy_helper.from_array(np.ones((3, n_out), np.float32), "ones")]
        nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
                 helper.make_node("Log", ["m"], ["logm"]),
                 helper.make_node("MatMul", ["logm", "ones"], ["y"])]
    elif kind == "batch_collapse":
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
        inits = [numpy_helper.from_array(np.array([0], np.int64), "axis0")]
        nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[0, 2, 3], keepdims=0),
                 helper.make_node("Unsqueeze", ["m", "axis0"], ["y"])]
    elif kind == "runtime_fail":
        inits = [numpy_helper.from_array(np.array([-1, n_out], np.int64), "shape")]
        nodes = [helper.make_node("Reshape", ["image", "shape"], ["y"])]
    else:
        raise ValueError(f"kind={kind!r} is not one of nan_output, runtime_fail, batch_collapse")
    graph = helper.make_graph(nodes, f"failing_{kind}", [_image_input()], [out], inits)
    return _save(graph, path)


def make_all(out_dir, seed: int = 0) -> dict:
    """Write every tiny model into ``out_dir``; returns {name: path}."""
    out = Path(out_dir)
    return {
        "extractor": make_extractor(out / "tiny-gem.onnx", seed),
        "extractor_fmap": make_extractor(out / "tiny-fmap.onnx", seed, output="feature_map"),
        "classifier": make_classifier(out / "tiny-classifier.onnx", seed),
        "classifier_10": make_classifier(out / "tiny-classifier-10.onnx", seed, n_classes=10),
        **{f"bad_{k}": make_bad_model(out / f"bad-{k}.onnx", k)
           for k in ("input_rank", "channels", "int_input", "output_rank", "unknown_op")},
        **{f"failing_{k}": make_failing_model(out / f"failing-{k}.onnx", k)
           for k in ("nan_output", "runtime_fail", "batch_collapse")},
    }


if __name__ == "__main__":  # pragma: no cover
    for name, p in make_all(sys.argv[1] if len(sys.argv) > 1 else "models/build/tiny").items():
        print(f"{name}: {p}")

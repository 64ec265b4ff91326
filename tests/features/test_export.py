"""models/export.py on randomly initialised weights saved as fake checkpoints (needs torch)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import export  # noqa: E402

from dscref.features import Classifier, Extractor  # noqa: E402

SMALL = ((64, 64), (48, 80))


def _resnet101_state(seed=0):
    torch.manual_seed(seed)
    net = export.ResNet(export.RESNET_LAYERS[101])
    # non-trivial BN statistics so a wrong key mapping cannot go unnoticed
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.1, 0.3)
    return net.eval(), net.state_dict()


def test_resnet101_keys_match_torchvision_layout():
    _, sd = _resnet101_state()
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
            "layer3.22.bn3.bias", "layer4.2.conv3.weight", "fc.weight", "fc.bias"} <= set(sd)
    assert "layer3.23.conv1.weight" not in sd
    n_params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
    assert n_params == 44_549_160  # torchvision resnet101


def test_cirtorch_key_mapping_roundtrip():
    _, sd = _resnet101_state()
    cir = export.torchvision_to_cirtorch(sd, p=2.5, whiten={"weight": torch.eye(2048)[:16], "bias": torch.zeros(16)})
    assert "features.4.0.conv1.weight" in cir and "features.7.2.bn3.running_mean" in cir and "pool.p" in cir
    back, p, wh = export.cirtorch_to_torchvision(cir)
    assert p == pytest.approx(2.5) and set(wh) == {"weight", "bias"}
    assert set(back) == {k for k in sd if not k.startswith("fc.")}
    with pytest.raises(KeyError, match="bogus"):
        export.cirtorch_to_torchvision({**cir, "bogus.weight": torch.zeros(1)})


@pytest.mark.slow
def test_export_cirtorch_checkpoint(tmp_path):
    net, sd = _resnet101_state(1)
    whiten = {"weight": torch.randn(64, 2048) * 0.05, "bias": torch.zeros(64)}
    ckpt = {"state_dict": export.torchvision_to_cirtorch(sd, p=3.2, whiten=whiten),
            "meta": {"architecture": "resnet101", "pooling": "gem", "whitening": True}, "epoch": 3}
    torch.save(ckpt, tmp_path / "retrievalSfM120k-resnet101-gem.pth")
    entry = export.export_cirtorch(tmp_path / "retrievalSfM120k-resnet101-gem.pth", tmp_path / "build",
                                   verify_sizes=SMALL)
    assert entry["max_abs_diff"] < 1e-4 and entry["output"]["shape"][1] == 64
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["models"][entry["file"]]["sha256"] == entry["sha256"]
    ext = Extractor(tmp_path / "build" / entry["file"], size=64, manifest=tmp_path / "build" / "manifest.json")
    x = np.random.default_rng(0).random((50, 70, 3))
    from PIL import Image

    img = Image.fromarray((x * 255).astype(np.uint8))
    v = ext.extract(img)
    assert v.shape == (1, 64)
    # the ONNX graph equals the torch reference built directly from the torchvision-layout weights
    from dscref.features import preprocess

    t = torch.from_numpy(preprocess(img, 64))
    with torch.no_grad():
        f = net.forward_features(t).clamp(min=1e-6).pow(3.2).mean((-2, -1)).pow(1 / 3.2)
        f = torch.nn.functional.normalize(f, dim=1)
        f = torch.nn.functional.normalize(f @ whiten["weight"].T + whiten["bias"], dim=1)
    np.testing.assert_allclose(v, f.numpy(), atol=1e-4)


@pytest.mark.slow
def test_export_resnet101_classifier(tmp_path):
    net, sd = _resnet101_state(2)
    torch.save(sd, tmp_path / "resnet101.pth")
    entry = export.export_resnet_classifier(tmp_path / "resnet101.pth", tmp_path / "b", verify_sizes=SMALL)
    assert entry["output"]["shape"][1] == 1000 and entry["max_abs_diff"] < 1e-3
    clf = Classifier(tmp_path / "b" / entry["file"], size=64)
    assert clf.topk(__import__("PIL.Image").Image.new("RGB", (80, 60), (9, 99, 199)))[0].shape == (1, 5)
    torch.save({"state_dict": {"conv1.weight": sd["conv1.weight"]}}, tmp_path / "partial.pth")
    with pytest.raises(KeyError, match="missing"):
        export.build_resnet_classifier(tmp_path / "partial.pth")
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        export.load_checkpoint(tmp_path / "nothing.pth")

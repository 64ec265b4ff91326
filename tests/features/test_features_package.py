"""The dscref.features package: its public names, the old import paths (dscref.images,
dscref.extraction, dscref.features_file) and what ``import dscref.features`` loads."""

import subprocess
import sys

import pytest

import dscref.features as features
from dscref.features import classifier, extraction, extractor, file, image, onnx, pooling

# every name dscref.features had before it became a package, and where each lives now
OLD_FEATURES_NAMES = {
    "IMAGENET_MEAN": image, "IMAGENET_STD": image, "load_image": image, "preprocess": image,
    "gem": pooling, "l2_normalize": pooling, "combine_multiscale": pooling, "sha256_file": onnx,
    "Extractor": extractor, "Classifier": classifier,
}


def test_features_reexports_every_old_name_from_its_module():
    assert set(OLD_FEATURES_NAMES) <= set(features.__all__)
    for name, module in OLD_FEATURES_NAMES.items():
        assert getattr(features, name) is getattr(module, name), name
    for name in features.__all__:
        assert hasattr(features, name), name
    assert features.extract_images is extraction.extract_images
    assert features.load_features_file is file.load_features_file


@pytest.mark.parametrize("old, new, names", [
    ("dscref.images", image, ["IMAGENET_MEAN", "IMAGENET_STD", "MAX_IMAGE_PIXELS", "MAX_RESIZE_PIXELS",
                              "load_image", "preprocess", "image_name"]),
    ("dscref.extraction", extraction, ["extract_images", "cached_features", "CACHE_FORMAT"]),
    ("dscref.features_file", file, ["save_features_file", "load_features_file", "features_file_from_extract",
                                    "pack_gnd", "unpack_gnd"]),
])
def test_old_module_paths_still_work(old, new, names):
    mod = __import__(old, fromlist=["_"])
    for name in names:
        assert getattr(mod, name) is getattr(new, name), f"{old}.{name}"
    assert set(names) - {"CACHE_FORMAT", "MAX_IMAGE_PIXELS", "MAX_RESIZE_PIXELS", "image_name"} \
        <= set(mod.__all__)
    from dscref import datasets

    assert datasets.extract_images is extraction.extract_images
    assert datasets.cached_features is extraction.cached_features


def test_dscref_images_is_the_module_so_its_limits_can_be_set(monkeypatch, tmp_path):
    """Error messages named dscref.images.MAX_IMAGE_PIXELS before the layout change: setting it there
    still takes effect."""
    from PIL import Image

    import dscref.images
    from dscref.errors import ImageError

    assert dscref.images is image
    Image.new("RGB", (100, 80)).save(tmp_path / "p.png")
    monkeypatch.setattr(dscref.images, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(ImageError, match="decoding limit of 5000 pixels"):
        image.load_image(tmp_path / "p.png")


def test_runtime_never_imports_torch():
    code = ("import sys, dscref.features, dscref.datasets, dscref.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_loads_neither_onnxruntime_nor_pillow():
    """Both are imported when a model is opened or an image read, not by ``import dscref.features``."""
    code = ("import sys, dscref.features, dscref.images, dscref.extraction, dscref.features_file; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'onnx', 'PIL', "
            "'torch', 'tqdm')); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)

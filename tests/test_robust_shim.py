"""The old paths keep working: dscref.robust re-exports every name from its new home, the codec
package keeps the plain codec's names, and the old names of the protected layout are aliases."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# every name of dscref.robust's __all__ before the split, and where it lives now
OLD_ROBUST = {
    "error_patterns": "dscref.assignment",
    "robust_permutation": "dscref.assignment",
    "assignment_distortion": "dscref.assignment",
    "apply_permutation": "dscref.assignment",
    "permute_codes": "dscref.assignment",
    "make_index_robust": "dscref.index.robust",
    "LabelOrder": "dscref.index.robust",
    "robust_label_order": "dscref.index.robust",
    "soft_search": "dscref.index.robust",
    "posteriors": "dscref.soft",
    "soft_lut_l2": "dscref.soft",
    "hard_codes": "dscref.soft",
    "HEAD_SCHEMES": "dscref.fec",
    "protected_head_bits": "dscref.fec",
    "encode_head_bits": "dscref.fec",
    "decode_head_hard": "dscref.fec",
    "decode_head_soft": "dscref.fec",
    "soft_decode_head": "dscref.fec",
    "RobustLayout": ("dscref.codec.protected", "ProtectedLayout"),
    "encode_robust_payload": ("dscref.codec.protected", "encode_protected_payload"),
    "decode_robust_payload": ("dscref.codec.protected", "decode_protected_payload"),
}


@pytest.mark.parametrize("name", sorted(OLD_ROBUST))
def test_every_old_robust_name_is_the_object_of_its_new_home(name):
    import dscref.robust

    home = OLD_ROBUST[name]
    module, new_name = home if isinstance(home, tuple) else (home, name)
    obj = importlib.import_module(module).__dict__[new_name]
    assert getattr(dscref.robust, name) is obj  # what `from dscref.robust import <name>` binds
    assert new_name in importlib.import_module(module).__all__


def test_old_robust_all_is_unchanged():
    import dscref.robust

    assert sorted(dscref.robust.__all__) == sorted(OLD_ROBUST)


def test_codec_package_keeps_the_plain_codec_names():
    import dscref.codec as codec
    from dscref.codec import plain, protected

    for name in ("PayloadLayout", "DecodeReport", "encode_payload", "decode_payload", "decode_head", "POLICIES"):
        assert getattr(codec, name) is getattr(plain, name) and name in codec.__all__
    for name in ("ProtectedLayout", "encode_protected_payload", "decode_protected_payload"):
        assert getattr(codec, name) is getattr(protected, name) and name in codec.__all__
    from dscref.codec import PayloadLayout
    from dscref.robust import RobustLayout

    assert RobustLayout(PayloadLayout()).n_bits == 376


def test_soft_and_fec_import_neither_codec_nor_index():
    """The layer rule behind the broken cycle codec -> index.base -> robust -> codec."""
    code = ("import sys, dscref.soft, dscref.fec; "
            "print(sorted(m for m in sys.modules if m.startswith(('dscref.codec', 'dscref.index', 'dscref.robust'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    code = "import sys, dscref.codec; print(sorted(m for m in sys.modules if m.startswith('dscref.index')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

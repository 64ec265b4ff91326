"""Old path of :mod:`dscref.features.file`, the pickle-free ``features:PATH`` file format."""

from __future__ import annotations

from .features.file import (features_file_from_extract, load_features_file, pack_gnd, save_features_file,
                            unpack_gnd)

__all__ = ["save_features_file", "load_features_file", "features_file_from_extract", "pack_gnd", "unpack_gnd"]

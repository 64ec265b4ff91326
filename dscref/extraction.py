"""Old path of :mod:`dscref.features.extraction` (``extract_images``, ``cached_features``)."""

from __future__ import annotations

from .features.extraction import CACHE_FORMAT, cached_features, extract_images

__all__ = ["extract_images", "cached_features", "CACHE_FORMAT"]

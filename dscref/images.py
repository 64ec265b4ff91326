"""Old path of :mod:`dscref.features.image` (image decoding and preprocessing), kept working.

``dscref.images`` *is* that module (an alias in ``sys.modules``, not a copy of its names), so
its tunable limits keep working when set here, as error messages suggest:
``dscref.images.MAX_IMAGE_PIXELS = ...`` changes the limit :func:`load_image` applies.
"""

from __future__ import annotations

import sys

from .features import image

sys.modules[__name__] = image

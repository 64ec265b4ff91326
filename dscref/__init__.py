"""dscref: a reference implementation of Deep Semantic Coding for wireless image retrieval.

Wang & Qi, "Deep Semantic Coding for Wireless Image Retrieval". Nothing heavy happens at import:
submodules are imported lazily by the user (``from dscref.pq import ProductQuantizer``).
"""

__version__ = "0.4.0"

from . import _threads  # noqa: E402,F401 - registers the fork hook (imports nothing heavy)

__all__ = ["__version__"]

"""Seeds derived from an item's identity, so results do not depend on the order of work."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def item_seed(*keys: Any) -> int:
    """A 32-bit seed derived from the configuration seed and an item's identity.

    Each item gets its own stream, so results do not depend on which items ran before, in
    which process, or in which order.
    """
    text = "/".join(str(k) for k in keys)
    digest = hashlib.sha256(text.encode()).digest()
    return int(np.frombuffer(digest[:4], dtype=np.uint32)[0])

"""δ's part in every segment, kept for the next calls that project the same δ.

A segmentation whose view is not the excerpt itself (an STFT) makes one round trip through
the view per segment to split δ into its parts. The same δ comes back many times: LIME composes
one excerpt in batch after batch, the exhaustive search keeps one pair's δ over batches of
subsets, the energy ranking is asked for the same pairs by every measure. The cache keeps the
most recent δs and their parts, compared by value (``torch.equal``), within a byte budget.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

#: Bytes of parts (and their δs) one cache keeps; the most recent entry is always kept.
MAX_BYTES = 64 * 2**20


class PartsCache:
    """The parts of the most recently used δs, per dtype, device and shape.

    Examples
    --------
    >>> import torch
    >>> cache = PartsCache()
    >>> delta = torch.ones(1, 4)
    >>> cache.get(delta) is None
    True
    >>> cache.put(delta, torch.eye(4))
    >>> bool(torch.equal(cache.get(torch.ones(1, 4)), torch.eye(4)))
    True
    >>> cache.get(torch.zeros(1, 4)) is None
    True
    """

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._next = 0

    def get(self, delta: torch.Tensor) -> torch.Tensor | None:
        """The parts stored for a δ equal to ``delta`` (same dtype, device, shape), or None."""
        for key, (stored, parts) in reversed(self._entries.items()):
            if (stored.shape == delta.shape and stored.dtype == delta.dtype
                    and stored.device == delta.device and torch.equal(stored, delta)):
                self._entries.move_to_end(key)
                return parts
        return None

    def put(self, delta: torch.Tensor, parts: torch.Tensor) -> None:
        """Keep ``parts`` for (a copy of) ``delta``, dropping the oldest entries over budget."""
        self._entries[self._next] = (delta.detach().clone(), parts.detach())
        self._next += 1
        while len(self._entries) > 1 and self._bytes() > self.max_bytes:
            self._entries.popitem(last=False)

    def _bytes(self) -> int:
        return sum(t.element_size() * t.nelement()
                   for pair in self._entries.values() for t in pair)

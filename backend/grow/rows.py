"""Arrays that grow by appended rows without copying the rows they already hold (the collection's features, the
maps' unit vectors): each grown array is the first n rows of a buffer with spare capacity."""
from __future__ import annotations

import numpy as np

MIN_CAPACITY = 1024     # rows; below this a regrow is cheap anyway
GROWTH = 2              # capacity x GROWTH on a regrow: each row is copied O(1) times on average


class Rows:
    """A (n, ...) array held as buf[:n]. appended(new) writes new into buf[n:n + k] when no other Rows has written
    past n (the buffer's fill mark is n) and it fits, else copies buf[:n] into a larger buffer first. Arrays handed
    out earlier stay valid and unchanged: they are prefixes, and writes only go past every prefix handed out."""

    __slots__ = ("_buf", "_n", "_fill")

    def __init__(self, array: np.ndarray, dtype=None):
        a = np.asarray(array, dtype=dtype)
        self._buf, self._n, self._fill = a, len(a), [len(a)]   # the given array, not copied until the first append

    @classmethod
    def _over(cls, buf: np.ndarray, n: int, fill: list) -> "Rows":
        out = cls.__new__(cls)
        out._buf, out._n, out._fill = buf, n, fill
        return out

    @property
    def array(self) -> np.ndarray:
        return self._buf[:self._n]

    def __len__(self) -> int:
        return self._n

    def appended(self, new: np.ndarray) -> "Rows":
        """These rows followed by new's (cast to this dtype), as a new Rows; this one is unchanged."""
        n, k = self._n, len(new)
        if k == 0:
            return self
        buf, fill = self._buf, self._fill
        if fill[0] != n or n + k > len(buf) or not buf.flags.writeable:
            buf = np.empty((max(GROWTH * (n + k), MIN_CAPACITY), *self._buf.shape[1:]), self._buf.dtype)
            buf[:n] = self._buf[:n]
            fill = [n]
        buf[n:n + k] = new
        fill[0] = n + k
        return Rows._over(buf, n + k, fill)

    def holds(self, array: np.ndarray) -> bool:
        """Whether array is exactly this one (same memory and length): then appending to it may reuse the buffer."""
        return (isinstance(array, np.ndarray) and array.shape == self.array.shape
                and array.__array_interface__["data"][0] == self._buf.__array_interface__["data"][0])

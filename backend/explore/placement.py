"""Added metaverses on a stored map until the next build: each placed by its nearest mapped neighbours
(maps.place_by_neighbours, the rule that also places queries) and given its nearest neighbour's cluster."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from backend.explore.maps import MapData, place_by_neighbours


def place_new_points(m: MapData, mapped_vecs: np.ndarray, new_vecs: np.ndarray, k: int = 10) -> MapData:
    """m's layout for len(mapped_vecs) items plus new rows; params["placed"] counts them. UMAP and HDBSCAN are not
    re-run: clusters, their terms and medoids stay as built."""
    if len(new_vecs) == 0:
        return m
    if len(mapped_vecs) != len(m.coords):
        raise ValueError(f"the map has {len(m.coords)} points but {len(mapped_vecs)} vectors were given")
    xy = np.array([place_by_neighbours(v, mapped_vecs, m.coords, k=k) for v in new_vecs], m.coords.dtype)  # (N, 2)
    nearest = np.argmax(np.asarray(new_vecs, np.float32) @ np.asarray(mapped_vecs, np.float32).T, axis=1)  # (N,)
    return replace(m, coords=np.concatenate([m.coords, xy]), labels=np.concatenate([m.labels, m.labels[nearest]]),
                   params={**m.params, "placed": int(len(new_vecs))})

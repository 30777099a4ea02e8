"""Added metaverses on a stored map until the next build: each placed by its nearest mapped neighbours
(maps.place_by_neighbours, the rule that also places queries) and given its nearest neighbour's cluster."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from backend.explore.maps import MapData, place_among_unit, unit_rows


def place_new_points(m: MapData, mapped_vecs: np.ndarray, new_vecs: np.ndarray, k: int = 10,
                     mapped_unit: Optional[np.ndarray] = None) -> MapData:
    """m's layout for len(mapped_vecs) items plus new rows; params["placed"] counts them. UMAP and HDBSCAN are not
    re-run: clusters, their terms and medoids stay as built. mapped_unit: unit_rows(mapped_vecs) when the caller
    keeps them (then only the new rows are normalised here)."""
    if len(new_vecs) == 0:
        return m
    if len(mapped_vecs) != len(m.coords):
        raise ValueError(f"the map has {len(m.coords)} points but {len(mapped_vecs)} vectors were given")
    unit = unit_rows(mapped_vecs) if mapped_unit is None else mapped_unit                    # (N, D) float64
    if len(unit) != len(m.coords):
        raise ValueError(f"the map has {len(m.coords)} points but {len(unit)} unit vectors were given")
    xy = np.array([place_among_unit(v, unit, m.coords, k=k) for v in new_vecs], m.coords.dtype)  # (N_new, 2)
    nearest = np.argmax(np.asarray(new_vecs, np.float32) @ np.asarray(mapped_vecs, np.float32).T, axis=1)  # (N_new,)
    return replace(m, coords=np.concatenate([m.coords, xy]), labels=np.concatenate([m.labels, m.labels[nearest]]),
                   params={**m.params, "placed": int(len(new_vecs))})

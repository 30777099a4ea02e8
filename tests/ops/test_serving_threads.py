"""Serving answers one query per thread: torch, faiss and every loaded BLAS are pinned for the life of the process
(in a child process here, since the setting is process-wide)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = ("import json; from backend.device import configure_serving_threads; n = configure_serving_threads(); "
         "import faiss, torch; from threadpoolctl import threadpool_info; "
         "print(json.dumps({'torch': torch.get_num_threads(), 'faiss': faiss.omp_get_max_threads(), "
         "'blas': [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']}))")


@pytest.mark.parametrize("setting, expected", [(None, 1), ("2", 2)])
def test_serving_pins_torch_faiss_and_blas(setting, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                             "METAVERSE_TORCH_THREADS")}
    if setting:
        env["METAVERSE_TORCH_THREADS"] = setting
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["torch"] == expected and got["faiss"] == expected
    assert got["blas"] and all(n == expected for n in got["blas"])   # numpy's OpenBLAS and faiss's own

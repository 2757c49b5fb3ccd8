"""Calling a trained operator from plain Python on a numpy field: no Lightning, no pickle.

python examples/call_bundle.py runs/demo_darcy_mgno/model.opl
"""

import sys

import numpy as np

import opl

surrogate = opl.load(sys.argv[1])  # checks the file; builds the model from the allow-list
n = surrogate.metadata["grid"]["shape"][0]
x = np.linspace(0.0, 1.0, n)
X, Y = np.meshgrid(x, x, indexing="ij")
permeability = np.where(np.sin(6 * X) * np.cos(4 * Y) > 0, 12.0, 3.0).astype(np.float32)

pressure = surrogate(permeability)  # (n, n) in, (n, n) out, physical units
batch = surrogate(np.stack([permeability, permeability.T])[:, None])  # (2, 1, n, n) batches
print(
    f"{surrogate.metadata['class']} trained on {surrogate.metadata['provenance'].get('pde')}: "
    f"input {permeability.shape} -> output {pressure.shape}, max pressure {pressure.max():.4f}; "
    f"batch {batch.shape}"
)

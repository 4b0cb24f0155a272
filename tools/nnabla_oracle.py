"""Run NNP files with the real nnabla (executed by a Python that has nnabla 1.39).

usage: python nnabla_oracle.py JOBS.json
JOBS.json: [{"nnp": path, "inputs": [npy paths], "out": npz path}, ...]
Each job loads the NNP with nnabla's NnpLoader, runs its first network's
forward pass and saves the outputs keyed by name.  Not imported by the tests:
they call it in a subprocess.
"""

import json
import sys

import nnabla.functions as F
import numpy as np
from nnabla.utils.nnp_graph import NnpLoader


def main():
    for job in json.load(open(sys.argv[1])):
        ins = [np.load(p) for p in job["inputs"]]
        nnp = NnpLoader(job["nnp"])
        net = nnp.get_network(nnp.get_network_names()[0], batch_size=ins[0].shape[0])
        for (_, v), x in zip(net.inputs.items(), ins):
            v.d = x
        outs = list(net.outputs.values())
        (F.sink(*outs) if len(outs) > 1 else outs[0]).forward()
        np.savez(job["out"], **{k: v.d for k, v in net.outputs.items()})


if __name__ == "__main__":
    main()

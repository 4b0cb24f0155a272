"""The "board" backend of ``nnb run --board NAME``: the model as firmware on a board (QEMU or the host).

``run`` follows nnb/backends/__init__.py; the report of the last run (footprint, instruction count,
stack) is kept in :data:`last_report` for the command to print.
"""

from __future__ import annotations

import numpy as np

from nnb.boards.run import BoardReport, run_on_board
from nnb.errors import NnbError

last_report: BoardReport | None = None


def run(model_path: str, graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:  # noqa: ANN001
    """One pass on ``options["board"]``; a batch larger than the model's runs one slice at a time."""
    global last_report
    from nnb.boards.image import model_image
    from nnb.executor import bind_inputs

    board = (options or {}).get("board")
    if not board:
        raise NnbError("the board backend needs --board NAME (see nnb boards)")
    mi = model_image(model_path if model_path else graph)
    bound = bind_inputs(graph, inputs) if graph is not None else dict(inputs)
    xs = [np.asarray(bound[n], dtype=np.float32) for n, _ in mi.inputs]
    per = mi.inputs[0][1][0] if mi.inputs and mi.inputs[0][1] else 1
    n = xs[0].shape[0] if xs and xs[0].ndim else per
    if xs and xs[0].shape != mi.inputs[0][1] and n % per == 0 and n != per:
        parts = [run_on_board(mi, board, [x[s:s + per] for x in xs]) for s in range(0, n, per)]
        last_report = parts[-1][1]
        return {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    outs, last_report = run_on_board(mi, board, xs)
    return outs

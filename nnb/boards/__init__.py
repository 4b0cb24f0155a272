"""Boards and firmware: board files, `nnb build` projects, the fit check, runs under QEMU.

Public entry points: :func:`load_board`, :func:`list_boards`, :func:`build_firmware` (nnb.boards.build),
:func:`run_on_board` (nnb.boards.run).
"""

from nnb.boards.load import Board, list_boards, load_board

__all__ = ["Board", "list_boards", "load_board"]

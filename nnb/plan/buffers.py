"""Buffer sharing for the upstream-compatible NNB layout (one malloc per buffer).

Each tensor goes to the first buffer whose tensors are all dead before it is
born (first fit in definition order, biggest tensors placed first among those
born at the same step); a buffer is as large as its largest tensor.
"""

from __future__ import annotations

from nnb.plan.lifetimes import Lifetime


def assign_buffers(lts: list[Lifetime]) -> tuple[list[int], dict[str, int]]:
    """(buffer byte sizes, tensor name -> buffer index)."""
    occupants: list[list[Lifetime]] = []
    sizes: list[int] = []
    where: dict[str, int] = {}
    for lt in sorted(lts, key=lambda t: (t.start, -t.nbytes)):
        for b, occ in enumerate(occupants):
            if all(not lt.overlaps(o) for o in occ):
                occ.append(lt)
                sizes[b] = max(sizes[b], lt.nbytes)
                where[lt.name] = b
                break
        else:
            occupants.append([lt])
            sizes.append(lt.nbytes)
            where[lt.name] = len(sizes) - 1
    return sizes, where

"""``nnb devices``: the OpenCL platforms and devices, with the limits the OpenCL backend plans against."""

from __future__ import annotations

import argparse
import json


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def cmd_devices(args: argparse.Namespace) -> int:
    from nnb.backends.opencl_device import cache_dir, list_devices

    devs = list_devices()
    if args.json:
        print(json.dumps(devs, indent=1))
        return 0
    platform = None
    for d in devs:
        if d["platform"] != platform:
            platform = d["platform"]
            print(f"platform: {platform} ({d['platform_version']})")
        print(f"  [{d['index']}] {d['device']} ({d['type']}, {d['version']}, driver {d['driver']})")
        print(f"      {d['compute_units']} compute units, global memory {_mb(d['global_mem_bytes'])}, "
              f"max buffer {_mb(d['max_alloc_bytes'])}, local memory {d['local_mem_bytes'] // 1024} KB, "
              f"work-group <= {d['max_work_group_size']}, base address align {d['mem_base_addr_align_bits']} bits")
    print(f"kernel binaries are cached in {cache_dir()}; choose a device with --backend opencl --device N")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "list the OpenCL platforms and devices (for --backend opencl --device N)"
    sp = sub.add_parser("devices", help=help_, description=help_)
    sp.add_argument("--json", action="store_true", help="print the list as JSON")
    sp.set_defaults(func=cmd_devices)

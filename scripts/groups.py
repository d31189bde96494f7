#!/usr/bin/env python3
"""Prints what scripts need of groups.toml, one item a line.
   groups.py names     every group, the gateway first
   groups.py configs   each group's wrangler config, the gateway's first"""

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def groups():
    """The groups of groups.toml, the gateway first."""
    listed = tomllib.loads((ROOT / "groups.toml").read_text())["group"]
    return sorted(listed, key=lambda g: g["name"] != "gateway")


def config(group):
    """Where a group's wrangler config is: the gateway's at the root."""
    return "wrangler.toml" if group["name"] == "gateway" else f"functions/{group['name']}/wrangler.toml"


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "names"
    for group in groups():
        print(group["name"] if what == "names" else config(group))

#!/usr/bin/env python3
"""What scripts need of groups.toml.
   groups.py names     every group, the gateway first, one a line
   groups.py configs   each group's wrangler config, the gateway's first, one a line
   groups.py crates    each group's crate, one a line
   groups.py spin      spin.toml, generated (python3 scripts/groups.py spin > spin.toml)"""

import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manifest():
    return tomllib.loads((ROOT / "groups.toml").read_text())


def groups():
    """The groups of groups.toml, the gateway first."""
    return sorted(manifest()["group"], key=lambda g: g["name"] != "gateway")


def config(group):
    """Where a group's wrangler config is: the gateway's at the root."""
    return "wrangler.toml" if group["name"] == "gateway" else f"functions/{group['name']}/wrangler.toml"


def spin_route(pattern):
    """A groups.toml pattern as a Spin route: `{name}` is `:name`, a final `**` is `...`."""
    parts = ["..." if part == "**" else f":{part[1:-1]}" if part.startswith("{") else part for part in pattern.split("/")]
    return "/".join(parts)


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def spin(listed=None):
    """spin.toml: one component per group, a route per pattern, the variables each reads."""
    data = manifest()
    listed = listed if listed is not None else data["group"]
    lines = [
        "# The Claude TUI backend on Spin: one component per endpoint group.",
        "# GENERATED from groups.toml by `python3 scripts/groups.py spin > spin.toml`; edit groups.toml.",
        "# Built with spin-sdk 5.2 for wasm32-wasip2 (WASI 0.2 components), which Spin 3.x and 4.x run.",
        "# Build: spin build. Run: spin up (SQLite file under .spin/). Deploy: spin deploy, or SpinKube.",
        "# Set the signing secret: SPIN_VARIABLE_JWT_SECRET=... spin up, or a secret in your platform.",
        "# Production storage on libSQL/Turso: spin up --runtime-config-file runtime-config.toml",
        "spin_manifest_version = 2",
        "",
        "[application]",
        'name = "claude-tui"',
        'version = "0.1.0"',
        'description = "The backend the Claude TUI talks to"',
        "",
        "[variables]",
    ]
    lines += [f"{name} = {toml_value(spec)}" for name, spec in data["variables"].items()]
    for group in listed:
        for pattern in group.get("routes", []):
            lines += ["", "[[trigger.http]]", f"route = {toml_value(spin_route(pattern))}", f"component = {toml_value(group['name'])}"]
    lines += ["", "# Health, the OpenAPI document of the whole API, and the 404 for everything else."]
    lines += ["[[trigger.http]]", 'route = "/..."', 'component = "gateway"']
    for group in listed:
        name, crate = group["name"], group["crate"]
        lines += ["", f"[component.{name}]", f'source = "target/wasm32-wasip2/release/{crate.replace("-", "_")}.wasm"', 'sqlite_databases = ["default"]']
        if group.get("outbound"):
            lines.append(f"allowed_outbound_hosts = {toml_value(group['outbound'])}")
        lines += ["", f"[component.{name}.variables]"]
        lines += [f'{v} = "{{{{ {v} }}}}"' for v in data["settings"]["common"] + group.get("variables", [])]
        lines += [
            "",
            f"[component.{name}.build]",
            f'command = "cargo build --release --target wasm32-wasip2 -p {crate} --features spin"',
            f'watch = ["functions/{name}/src/**/*.rs", "shared/src/**/*.rs", "migrations/*.sql"]',
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "names"
    if what == "spin":
        sys.stdout.write(spin())
    else:
        for group in groups():
            print({"names": group["name"], "configs": config(group), "crates": group["crate"]}[what])

#!/usr/bin/env python3
"""What scripts need of groups.toml.
   groups.py names     every group, the gateway first, one a line
   groups.py configs   each group's wrangler config, the gateway's first, one a line
   groups.py crates    each group's crate, one a line
   groups.py spin      spin.toml, generated (python3 scripts/groups.py spin > spin.toml)
   groups.py routes HOST
                       each worker's config and its Cloudflare routes on HOST, one worker a line
                       in the order of deploying them (the gateway, on HOST/*, last):
                       `CONFIG --route HOST/v1/projects* ...`, the options of its wrangler deploy
   groups.py zone      the config of scripts/zone-routes.mjs, which plays those routes locally"""

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


def cloudflare_route(pattern):
    """A groups.toml pattern as the path of a Cloudflare route, or None where it cannot be one:
    a route's only wildcard is a final `*`, so `/v1/projects/**` is `/v1/projects*` and
    `/v1/projects/{id}/tasks/**` none (the worker whose route takes its paths forwards them)."""
    parts = pattern.split("/")[1:]
    if any(part.startswith("{") for part in parts):
        return None
    return "/" + "/".join(parts[:-1]) + "*" if parts[-1] == "**" else pattern


def covers(prefix, pattern):
    """Whether a route's path `prefix` (without its `*`) may take paths of `pattern`: Cloudflare
    compares characters, not segments, so either may begin with the other's literal start
    (`pattern` up to its first `{`)."""
    literal = pattern.split("{", 1)[0]
    return literal.startswith(prefix) or prefix.startswith(literal)


def nested(group, listed):
    """The other groups whose paths the Cloudflare routes of `group` take to its worker, which
    forwards them: those with a pattern that is no route of its own, under one of `group`'s."""
    prefixes = [r[:-1] for r in map(cloudflare_route, group.get("routes", [])) if r and r.endswith("*")]
    return [
        other
        for other in listed
        if other["name"] != group["name"]
        and any(cloudflare_route(q) is None and any(covers(p, q) for p in prefixes) for q in other.get("routes", []))
    ]


def deploy_routes(host):
    """(config, [route, ...]) for every worker in the order of deploying them: the groups as
    groups.toml lists them, the gateway, on everything else, last."""
    workers = [g for g in manifest()["group"] if g["name"] != "gateway"]
    lines = [(config(g), [f"{host}{r}" for r in map(cloudflare_route, g.get("routes", [])) if r]) for g in workers]
    return lines + [("wrangler.toml", [f"{host}/*"])]


def zone():
    """The wrangler config of scripts/zone-routes.mjs: every group's worker and the gateway
    bound, and the routes, for `wrangler dev` (scripts/wrangler-local.sh DIR PORT VARS routes)."""
    listed = [g for g in manifest()["group"] if "binding" in g]
    routes = [[route, g["binding"]] for g in listed for route in map(cloudflare_route, g["routes"]) if route]
    services = [{"binding": g["binding"], "service": f"tui-{g['name']}"} for g in listed]
    services.append({"binding": "GATEWAY", "service": "tui-gateway"})
    return "\n".join([
        'name = "tui-zone"',
        f"main = {toml_value(str(ROOT / 'scripts' / 'zone-routes.mjs'))}",
        'compatibility_date = "2026-11-01"',
        f"services = {toml_value(services)}",
        "",
        "[vars]",
        f"ROUTES = {toml_value(json.dumps(routes))}",
    ]) + "\n"


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
    elif what == "zone":
        sys.stdout.write(zone())
    elif what == "routes":
        for path, routes in deploy_routes(sys.argv[2]):
            print(" ".join([path] + [f"--route {route}" for route in routes]))
    else:
        for group in groups():
            print({"names": group["name"], "configs": config(group), "crates": group["crate"]}[what])

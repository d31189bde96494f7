#!/usr/bin/env python3
"""Reads spin.toml the way Spin does, before a user's `spin up` has to, and checks every place
that names the endpoint groups against groups.toml.

1. TOML syntax, then Spin's own JSON schema of its v2 manifest (scripts/spin-schema/, vendored
   from Spin 4.0.2), so that a key in the wrong table (`allowed_outbound_hosts` under a
   component's `variables`, which Spin reads as one more variable) fails here.
2. The project's rules: each component's `source` is the file its build command produces;
   every `{{ variable }}` is declared in `[variables]`; every component has a trigger and every
   trigger a component; every path of the OpenAPI document reaches, through Spin's router, the
   component of the group that owns it in groups.toml.
3. spin.toml is the one `scripts/groups.py spin` generates from groups.toml, and every other
   list of groups (workers' configs, the gateway's service bindings, the bindings of a worker
   whose Cloudflare routes take paths another group owns, the workspace, the host,
   `npm run dev`) agrees with groups.toml.

Each problem is printed as `spin.toml:LINE: reason`; the exit status is 1 if there is any.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "spin.toml"
SCHEMA = ROOT / "scripts" / "spin-schema" / "manifest.schema.json"
OPENAPI = ROOT / "functions" / "gateway" / "openapi.json"
GROUPS = ROOT / "groups.toml"

sys.path.insert(0, str(ROOT / "scripts"))
import groups as manifest_groups  # noqa: E402  (scripts/groups.py, beside this file)


def line_of(lines, path):
    """The line that defines the key at `path` (a list of keys), as near as the text tells:
    the key's line inside the deepest table header that `path` names."""
    path = [str(p) for p in path]
    for cut in range(len(path), 0, -1):
        header = ".".join(path[:cut])
        rest = path[cut:]
        for number, text in enumerate(lines, 1):
            if text.strip() in (f"[{header}]", f"[[{header}]]"):
                if not rest:
                    return number
                for offset, inner in enumerate(lines[number:], number + 1):
                    if inner.lstrip().startswith("["):
                        break
                    if re.match(rf"\s*{re.escape(rest[0])}\s*=", inner):
                        return offset
                return number
    for number, text in enumerate(lines, 1):
        if path and re.match(rf"\s*{re.escape(path[-1])}\s*=", text):
            return number
    return 1


def schema_problems(manifest, lines):
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return [(1, "jsonschema is not installed: run scripts/install-tools.sh")]
    schema = json.loads(SCHEMA.read_text())
    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append((line_of(lines, list(error.absolute_path)), f"{where}: {error.message} (Spin's manifest schema)"))
    return problems


def produced_by(command):
    """The wasm file a `cargo build --target T -p NAME [--release]` writes."""
    target = re.search(r"--target\s+(\S+)", command)
    package = re.search(r"-p\s+(\S+)", command)
    if not (target and package):
        return None
    profile = "release" if "--release" in command else "debug"
    return f"target/{target.group(1)}/{profile}/{package.group(1).replace('-', '_')}.wasm"


def groups():
    """The groups of groups.toml."""
    return tomllib.loads(GROUPS.read_text())["group"]


def rank(segments, path):
    """How closely route `segments` match `path`, segment by segment (a literal 2, a parameter 1,
    the rest-of-path wildcard 0), or None: the order Spin's router and the gateway both use."""
    parts = path.split("/")[1:]
    ranks = []
    for index, segment in enumerate(segments):
        if segment in ("**", "..."):
            return ranks + [0]
        if index >= len(parts):
            return None
        if segment.startswith(":") or (segment.startswith("{") and segment.endswith("}")):
            if not parts[index]:
                return None
            ranks.append(1)
        elif segment == parts[index]:
            ranks.append(2)
        else:
            return None
    return ranks if len(parts) == len(segments) else None


def best(candidates, path):
    """Of (route, value) pairs, the values of the routes that match `path` most closely."""
    ranked = [(rank(route.split("/")[1:], path), value) for route, value in candidates]
    ranked = [(r, value) for r, value in ranked if r is not None]
    if not ranked:
        return []
    top = max(r for r, _ in ranked)
    return [value for r, value in ranked if r == top]


def owners(listed):
    """(pattern, group) for every route of every group."""
    return [(pattern, group["name"]) for group in listed for pattern in group.get("routes", [])]


def route_for(path, triggers):
    """The component Spin's router picks for `path`: the most specific route (`/prefix/...`
    matches `/prefix` and everything under it, `:name` one segment)."""
    chosen = best([(t.get("route", ""), t.get("component")) for t in triggers], path)
    return chosen[0] if len(chosen) == 1 else None


def rule_problems(manifest, lines):
    problems = []
    declared = set(manifest.get("variables", {}))
    components = manifest.get("component", {})
    triggers = manifest.get("trigger", {}).get("http", [])
    for name, component in components.items():
        command = component.get("build", {}).get("command", "")
        expected = produced_by(command)
        if expected is None:
            problems.append((line_of(lines, ["component", name, "build", "command"]), f"component {name}: its build command names no -p and --target"))
        elif component.get("source") != expected:
            problems.append((line_of(lines, ["component", name, "source"]), f"component {name}: source is {component.get('source')!r}, but its build command produces {expected!r}"))
        for key, value in component.get("variables", {}).items():
            if not isinstance(value, str):
                problems.append((line_of(lines, ["component", name, "variables", key]), f"component {name}: {key} sits in the variables table, where Spin reads only strings; move it under [component.{name}]"))
                continue
            for used in re.findall(r"\{\{\s*([a-z0-9_]+)\s*\}\}", value):
                if used not in declared:
                    problems.append((line_of(lines, ["component", name, "variables", key]), f"component {name}: {{{{ {used} }}}} is not declared in [variables]"))
        if not any(t.get("component") == name for t in triggers):
            problems.append((line_of(lines, ["component", name]), f"component {name} has no trigger"))
    for index, trigger in enumerate(triggers):
        if trigger.get("component") not in components:
            problems.append((line_of(lines, ["trigger", "http"]), f"trigger {index + 1} ({trigger.get('route')}) names no component of this manifest"))
    routes = owners(groups())
    for path in json.loads(OPENAPI.read_text()).get("paths", {}):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        claimed = best(routes, concrete)
        owner = claimed[0] if claimed else "gateway"
        routed = route_for(concrete, triggers)
        if routed != owner:
            problems.append((line_of(lines, ["trigger", "http"]), f"{path} is served by the {owner} group, but Spin routes it to {routed or 'nothing'}"))
    return problems


def check(text):
    """Every problem of a manifest's text, as (line, reason), in line order."""
    lines = text.splitlines()
    try:
        manifest = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        return [(int(line.group(1)) if line else 1, f"TOML: {error}")]
    return sorted(schema_problems(manifest, lines) + rule_problems(manifest, lines))


def read(path):
    return (ROOT / path).read_text() if (ROOT / path).exists() else ""


def check_groups(listed):
    """Every place that names the groups, against `listed`: (file, reason) for each disagreement."""
    problems = []
    if MANIFEST.read_text() != manifest_groups.spin(listed):
        problems.append(("spin.toml", "is not what groups.toml says; regenerate it: python3 scripts/groups.py spin > spin.toml"))
    root_config = tomllib.loads(read("wrangler.toml") or "")
    bindings = sorted((s["binding"], s["service"]) for s in root_config.get("services", []))
    wanted = sorted((g["binding"], f"tui-{g['name']}") for g in listed if "binding" in g)
    if bindings != wanted:
        problems.append(("wrangler.toml", f"the gateway binds {bindings}, groups.toml says {wanted}"))
    workspace = tomllib.loads(read("Cargo.toml"))["workspace"]["members"]
    host = read("host/src/lib.rs")
    dev = json.loads(read("package.json"))["scripts"]["dev"]
    for group in listed:
        name, crate = group["name"], group["crate"]
        config = "wrangler.toml" if name == "gateway" else f"functions/{name}/wrangler.toml"
        text = read(config)
        if not text:
            problems.append((config, f"group {name} has no worker config"))
        elif tomllib.loads(text).get("name") != f"tui-{name}":
            problems.append((config, f"the worker of group {name} must be named tui-{name}"))
        if name != "gateway" and text and not any(d.get("binding") == "DB" for d in tomllib.loads(text).get("d1_databases", [])):
            problems.append((config, f"the worker of group {name} binds no database DB"))
        for binding in group.get("durable_objects", []):
            objects = [d["name"] for d in tomllib.loads(text or "").get("durable_objects", {}).get("bindings", [])]
            if binding not in objects:
                problems.append((config, f"group {name} binds no Durable Object {binding}"))
        services = {(b.get("binding"), b.get("service")) for b in tomllib.loads(text or "").get("services", [])}
        for other in manifest_groups.nested(group, listed):
            if (other.get("binding"), f"tui-{other['name']}") not in services:
                problems.append((config, f"group {name}'s routes take {other['name']}'s nested paths, which its worker forwards: bind {other.get('binding')} to tui-{other['name']}"))
            if listed.index(other) > listed.index(group):
                problems.append(("groups.toml", f"group {other['name']} must come before {name}, whose worker binds it (the order of deploying them)"))
        entry = re.search(r'(?:entry_points!|cloudflare::fetch)\("([^"]+)"', read(f"functions/{name}/src/lib.rs"))
        if entry is None or entry.group(1) != name:
            problems.append((f"functions/{name}/src/lib.rs", f"its worker's entry must name the group {name!r}: a worker routes by that name"))
        if f"functions/{name}" not in workspace:
            problems.append(("Cargo.toml", f"functions/{name} is not a workspace member"))
        if name != "gateway" and f"{crate.replace('-', '_')}::routes()" not in host:
            problems.append(("host/src/lib.rs", f"the native host does not mount {crate}'s routes"))
        if f"-c {config}" not in dev:
            problems.append(("package.json", f"npm run dev does not start {config}"))
    return problems


def main():
    problems = check(MANIFEST.read_text())
    for line, reason in problems:
        print(f"spin.toml:{line}: {reason}", file=sys.stderr)
    group_problems = check_groups(groups())
    for path, reason in group_problems:
        print(f"{path}: {reason}", file=sys.stderr)
    if problems or group_problems:
        return 1
    print("spin.toml and every list of groups agree with groups.toml")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reads spin.toml the way Spin does, before a user's `spin up` has to.

1. TOML syntax, then Spin's own JSON schema of its v2 manifest (scripts/spin-schema/, vendored
   from Spin 4.0.2), so that a key in the wrong table (`allowed_outbound_hosts` under a
   component's `variables`, which Spin reads as one more variable) fails here.
2. The project's rules: each component's `source` is the file its build command produces;
   every `{{ variable }}` is declared in `[variables]`; every component has a trigger and every
   trigger a component; every path of the OpenAPI document reaches, through Spin's router, the
   component of the group that serves it (the gateway's GROUPS).

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
GATEWAY = ROOT / "functions" / "gateway" / "src" / "lib.rs"


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
    """The gateway's routing table: (prefix, group) pairs, the one list of groups for now."""
    text = GATEWAY.read_text()
    table = re.search(r"pub const GROUPS[^=]*=\s*&\[(.*?)\];", text, re.S)
    return [(prefix, group.lower()) for prefix, group in re.findall(r'\("([^"]+)",\s*"([A-Z_]+)"\)', table.group(1))]


def route_for(path, triggers):
    """The component Spin's router picks for `path`: an exact route first, then the longest
    wildcard (`/prefix/...` matches `/prefix` and everything under it)."""
    best, best_length = None, -1
    for trigger in triggers:
        route, component = trigger.get("route", ""), trigger.get("component")
        if route.endswith("/..."):
            prefix = route[: -len("/...")]
            if (path == prefix or path.startswith(prefix + "/") or prefix == "") and len(prefix) > best_length:
                best, best_length = component, len(prefix)
        elif route == path:
            return component
    return best


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
    owners = groups()
    for path in json.loads(OPENAPI.read_text()).get("paths", {}):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        owner = next((group for prefix, group in owners if concrete == prefix or concrete.startswith(prefix + "/")), "gateway")
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


def main():
    problems = check(MANIFEST.read_text())
    for line, reason in problems:
        print(f"spin.toml:{line}: {reason}", file=sys.stderr)
    if problems:
        return 1
    print("spin.toml: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The manifest check fails on the mistakes it exists for: `python -m unittest` in scripts/."""

import importlib.util
import unittest
from pathlib import Path

spec = importlib.util.spec_from_file_location("check_manifests", Path(__file__).with_name("check-manifests.py"))
check_manifests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_manifests)

MANIFEST = check_manifests.MANIFEST.read_text()


def line_number(text, needle):
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


class ManifestCheck(unittest.TestCase):
    def test_the_project_manifest_passes(self):
        self.assertEqual(check_manifests.check(MANIFEST), [])

    def test_outbound_hosts_under_variables_is_caught_at_its_line(self):
        moved = MANIFEST.replace('allowed_outbound_hosts = ["https://*:*"]\n', "").replace(
            'oidc_providers = "{{ oidc_providers }}"\n', 'oidc_providers = "{{ oidc_providers }}"\nallowed_outbound_hosts = ["https://*:*"]\n'
        )
        problems = check_manifests.check(moved)
        self.assertTrue(problems)
        self.assertEqual({line for line, _ in problems}, {line_number(moved, "allowed_outbound_hosts")})

    def test_a_source_its_build_does_not_produce_is_caught(self):
        broken = MANIFEST.replace("release/tui_projects.wasm", "release/tui_project.wasm")
        self.assertTrue(any("produces" in reason for _, reason in check_manifests.check(broken)))

    def test_an_undeclared_variable_is_caught(self):
        broken = MANIFEST.replace('public_url = "{{ public_url }}"', 'public_url = "{{ public_link }}"', 1)
        self.assertTrue(any("public_link" in reason for _, reason in check_manifests.check(broken)))

    def test_a_path_routed_to_the_wrong_component_is_caught(self):
        broken = MANIFEST.replace('route = "/v1/projects/..."', 'route = "/v1/project/..."')
        self.assertTrue(any("/v1/projects" in reason for _, reason in check_manifests.check(broken)))

    def test_a_nested_route_goes_to_the_most_specific_component(self):
        triggers = [{"route": "/v1/projects/...", "component": "projects"}, {"route": "/v1/projects/:id/tasks/...", "component": "tasks"}]
        self.assertEqual(check_manifests.route_for("/v1/projects/x/tasks", triggers), "tasks")
        self.assertEqual(check_manifests.route_for("/v1/projects/x/tasks/batch", triggers), "tasks")
        self.assertEqual(check_manifests.route_for("/v1/projects/x/members", triggers), "projects")
        self.assertEqual(check_manifests.route_for("/v1/projects", triggers), "projects")
        without = MANIFEST.replace('route = "/v1/projects/:id/tasks/..."', 'route = "/v1/project/:id/tasks/..."')
        self.assertTrue(any("/v1/projects/{id}/tasks" in reason for _, reason in check_manifests.check(without)))

    def test_bad_toml_names_its_line(self):
        problems = check_manifests.check(MANIFEST + "\nbroken = [\n")
        self.assertEqual(len(problems), 1)
        self.assertIn("TOML", problems[0][1])


class Groups(unittest.TestCase):
    def test_every_list_of_groups_agrees_with_groups_toml(self):
        self.assertEqual(check_manifests.check_groups(check_manifests.groups()), [])

    def test_a_group_added_to_groups_toml_alone_lists_everything_else_it_needs(self):
        widgets = {"name": "widgets", "crate": "tui-widgets", "binding": "WIDGETS", "routes": ["/v1/widgets/**"], "durable_objects": ["HUB"]}
        problems = check_manifests.check_groups(check_manifests.groups() + [widgets])
        places = {path for path, _ in problems}
        expected = {
            "wrangler.toml",
            "functions/widgets/wrangler.toml",
            "spin.toml",
            "Cargo.toml",
            "host/src/lib.rs",
            "package.json",
            "functions/widgets/src/lib.rs",
        }
        self.assertEqual(places, expected, problems)

    def test_a_group_whose_paths_nest_under_anothers_route_must_be_bound_there_and_deployed_first(self):
        listed = check_manifests.groups()
        comments = {"name": "comments", "crate": "tui-comments", "binding": "COMMENTS", "routes": ["/v1/tasks/{id}/comments/**"]}
        problems = check_manifests.check_groups(listed + [comments])
        self.assertTrue(any(path == "functions/tasks/wrangler.toml" and "COMMENTS" in reason for path, reason in problems), problems)
        self.assertTrue(any(path == "groups.toml" and "comments must come before tasks" in reason for path, reason in problems), problems)

    def test_cloudflare_routes_are_the_literal_prefixes_of_the_patterns(self):
        groups = check_manifests.manifest_groups
        self.assertEqual(groups.cloudflare_route("/v1/projects/**"), "/v1/projects*")
        self.assertEqual(groups.cloudflare_route("/v1/projects/{id}/tasks/**"), None)
        self.assertEqual(groups.cloudflare_route("/device"), "/device")
        routes = dict(groups.deploy_routes("tui.example.com"))
        self.assertEqual(routes["functions/projects/wrangler.toml"], ["tui.example.com/v1/projects*"])
        self.assertEqual(routes["wrangler.toml"], ["tui.example.com/*"])
        self.assertEqual(list(routes)[-1], "wrangler.toml", "the gateway is deployed last")


if __name__ == "__main__":
    unittest.main()

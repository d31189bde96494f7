//! Who may do what to a project: one table of (caller, operation, expected status), run in
//! full against a project with a member of every role.

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{Server, User};

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Outsider,
    Viewer,
    Contributor,
    Maintainer,
    Owner,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Read,
    ListMembers,
    Rename,
    AddViewer,
    GrantOwner,
    RemoveContributor,
    Delete,
}

use Caller::*;
use Op::*;

/// Expected status per caller, in the order Anonymous, Outsider, Viewer, Contributor,
/// Maintainer, Owner. Outsiders get 404: the project does not exist for them. A contributor
/// removing the contributor is leaving, which anyone may do.
const TABLE: &[(Op, [u16; 6])] = &[
    (Read, [401, 404, 200, 200, 200, 200]),
    (ListMembers, [401, 404, 200, 200, 200, 200]),
    (Rename, [401, 404, 403, 403, 200, 200]),
    (AddViewer, [401, 404, 403, 403, 200, 200]),
    (GrantOwner, [401, 404, 403, 403, 403, 200]),
    (RemoveContributor, [401, 404, 403, 204, 204, 204]),
    (Delete, [401, 404, 403, 403, 403, 204]),
];

struct Cast {
    outsider: User,
    viewer: User,
    contributor: User,
    maintainer: User,
    owner: User,
}

impl Cast {
    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Anonymous => None,
            Outsider => Some(&self.outsider.token),
            Viewer => Some(&self.viewer.token),
            Contributor => Some(&self.contributor.token),
            Maintainer => Some(&self.maintainer.token),
            Owner => Some(&self.owner.token),
        }
    }
}

/// A fresh project with one member of each role, so that every row starts from the same state.
async fn project(server: &Server, cast: &Cast) -> String {
    let id = server.project(&cast.owner, "guarded").await;
    for (user, role) in [(&cast.viewer, "viewer"), (&cast.contributor, "contributor"), (&cast.maintainer, "maintainer")] {
        server.add_member(&cast.owner, &id, user, role).await;
    }
    id
}

fn request(op: Op, project: &str, cast: &Cast, newcomer: &User) -> (Method, String, Option<Value>) {
    let base = format!("/v1/projects/{project}");
    match op {
        Read => (Method::GET, base, None),
        ListMembers => (Method::GET, format!("{base}/members"), None),
        Rename => (Method::PATCH, base, Some(json!({"name": "renamed"}))),
        AddViewer => (Method::PUT, format!("{base}/members/{}", newcomer.id), Some(json!({"role": "viewer"}))),
        GrantOwner => (Method::PUT, format!("{base}/members/{}", newcomer.id), Some(json!({"role": "owner"}))),
        RemoveContributor => (Method::DELETE, format!("{base}/members/{}", cast.contributor.id), None),
        Delete => (Method::DELETE, base, None),
    }
}

#[tokio::test]
async fn every_role_gets_exactly_the_access_the_contract_gives_it() {
    let server = Server::start().await;
    let cast = Cast {
        outsider: server.user().await,
        viewer: server.user().await,
        contributor: server.user().await,
        maintainer: server.user().await,
        owner: server.user().await,
    };
    let newcomer = server.user().await;
    let mut failures = Vec::new();
    for (op, expected) in TABLE {
        for (caller, expected) in [Anonymous, Outsider, Viewer, Contributor, Maintainer, Owner].into_iter().zip(expected) {
            let id = project(&server, &cast).await;
            let (method, path, body) = request(*op, &id, &cast, &newcomer);
            let reply = server.call(method, &path, cast.token(caller), body).await;
            if reply.status.as_u16() != *expected {
                failures.push(format!("{caller:?} {op:?}: expected {expected}, got {} {}", reply.status, reply.body));
            }
            if *expected >= 400 && reply.header("content-type") != Some("application/problem+json") {
                failures.push(format!("{caller:?} {op:?}: not problem+json"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

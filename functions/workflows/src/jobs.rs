//! The durable jobs table (see the migration): claiming a due job with a lease, and finishing,
//! releasing or extending it only while that lease is still the one this worker set.

use tui_shared::{
    ApiError,
    db::{Database, Query, Statement},
    stmt,
    time::{self, Timestamp},
};

use crate::{WorkflowsConfig, model::Kind};

/// A claimed job: the step it is for and its kind, the lease that proves the claim, and how
/// many wakes it had when it was claimed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Job {
    pub id: i64,
    pub run_id: uuid::Uuid,
    pub step_key: String,
    pub kind: Kind,
    pub lease: String,
    pub wakes: i64,
}

/// A job whose step waits without end is due then: when something moves it (a task finishing, an
/// event arriving) it is made due at once.
pub const NEVER: &str = "9999-12-31T23:59:59.999Z";

/// How many of `lanes` jobs run side by side may be `http` steps: all but a quarter of them (at
/// least one, from two lanes up). An `http` step holds its lane for as long as the site it calls
/// takes to answer, up to its timeout (minutes), and anyone may define one; the other steps hold
/// theirs briefly, or for a Claude call, and run the swarms: an orchestration's plan and a vote
/// closing must not wait until strangers' slow calls end. The rule is the same wherever jobs are
/// drained: the native pool's workers, the lanes of a Spin tick and of a Workers queue batch.
pub fn http_lanes(lanes: usize) -> usize {
    if lanes < 2 { lanes } else { lanes - lanes.div_ceil(4) }
}

/// Claims a due job that is not leased, for `config.lease` from `now` (long enough for any step
/// but `http`, which extends its claim to its timeout before calling), and only an `http` step's
/// job if `calls`. One statement decides, so two workers never hold one job, and it decides
/// fairly between users (whose authority a run acts on: its creator):
///
/// - a user holding `config.per_user` claims, or a project holding `config.per_project`, gets
///   none, whatever number of projects or runs they have;
/// - the claim goes to the user holding the fewest claims now, and of theirs to the job due
///   longest ago: a user who has waited gets the next free worker before one who holds some,
///   however many jobs the latter has queued, and however long ago.
///
/// The users are found by skipping through the index one user and kind at a time, and each
/// one's oldest job it may take is read from the same index (it covers the lease and the
/// project): a claim reads, per user with jobs, the jobs it passes over, which are that user's
/// own leased ones (fewer than their share) and their due jobs in projects holding their share
/// (few projects: the workers divided by that share), not the queue. Those are passed over, not
/// counted against the window: another member filling a shared project must not leave the
/// user's jobs in every other project waiting.
pub async fn claim(db: &dyn Database, now: Timestamp, config: &WorkflowsConfig, calls: bool) -> Result<Option<Job>, ApiError> {
    let stamp = time::format(now);
    let lease = time::format(now + config.lease);
    let row = db
        .query_opt(stmt!(
            "WITH RECURSIVE \
                 queues (user_id, kind) AS ( \
                     SELECT * FROM (SELECT user_id, kind FROM jobs ORDER BY user_id, kind LIMIT 1) \
                     UNION ALL \
                     SELECT j.user_id, j.kind FROM queues q JOIN jobs j ON j.id = coalesce( \
                         (SELECT id FROM jobs WHERE user_id = q.user_id AND kind > q.kind ORDER BY kind LIMIT 1), \
                         (SELECT id FROM jobs WHERE user_id > q.user_id ORDER BY user_id, kind LIMIT 1))), \
                 held AS (SELECT user_id, project_id FROM jobs WHERE lease_until > ?1), \
                 users AS (SELECT user_id, count(*) AS claims FROM held GROUP BY user_id), \
                 full AS (SELECT project_id FROM held GROUP BY project_id HAVING count(*) >= ?3), \
                 candidates AS MATERIALIZED ( \
                     SELECT coalesce(u.claims, 0) AS claims, \
                         (SELECT id FROM jobs WHERE user_id = q.user_id AND kind = q.kind AND due_at <= ?1 \
                             AND lease_until <= ?1 AND project_id NOT IN full ORDER BY due_at LIMIT 1) AS id \
                     FROM queues q LEFT JOIN users u ON u.user_id = q.user_id \
                     WHERE coalesce(u.claims, 0) < ?4 AND (?5 OR q.kind != 'http')) \
             UPDATE jobs SET lease_until = ?2, deliveries = deliveries + 1 \
             WHERE id = (SELECT c.id FROM candidates c JOIN jobs j ON j.id = c.id ORDER BY c.claims, j.due_at LIMIT 1) \
             AND lease_until <= ?1 \
             RETURNING id, run_id, step_key, kind, lease_until AS lease, wakes",
            stamp.as_str(),
            lease.as_str(),
            config.per_project,
            config.per_user,
            calls
        ))
        .await?;
    Ok(row.map(|row| row.decode::<Job>()).transpose()?)
}

impl Job {
    /// SQL that holds while this worker still holds the job, its id and lease bound to `q`: what
    /// a step's move is conditional on besides its state, so that a worker whose lease ran out
    /// cannot move the step under the one that took the job over.
    pub fn held(&self, q: &mut Query) -> String {
        let (id, lease) = (q.bind(self.id), q.bind(self.lease.as_str()));
        format!("EXISTS (SELECT 1 FROM jobs WHERE id = {id} AND lease_until = {lease})")
    }

    /// Drops the job, its work done.
    pub fn finish(&self) -> Statement {
        stmt!("DELETE FROM jobs WHERE id = ?1 AND lease_until = ?2", self.id, self.lease.as_str())
    }

    /// Gives the job back, due at `due`; or at `now`, if something the step waits for happened
    /// since the job was claimed (the step looked before it did).
    pub fn release(&self, due: &str, now: &str) -> Statement {
        stmt!(
            "UPDATE jobs SET due_at = CASE WHEN wakes = ?5 THEN ?3 ELSE ?4 END, lease_until = '' WHERE id = ?1 AND lease_until = ?2",
            self.id,
            self.lease.as_str(),
            due,
            now,
            self.wakes
        )
    }
}

/// When the next job falls due (or its lease runs out), if there is any: when the native pool
/// looks next, and what a drain on Workers sets the alarm for.
pub async fn next_due(db: &dyn Database) -> Result<Option<Timestamp>, ApiError> {
    let row = db.query_opt(stmt!("SELECT min(max(due_at, lease_until)) FROM jobs")).await?;
    Ok(row.and_then(|row| row.decode::<(Option<String>,)>().ok()).and_then(|(at,)| at).and_then(|at| time::parse(&at)))
}

#[cfg(test)]
mod tests {
    use tui_shared::{
        adapters::native::Sqlite,
        config::{Lookup, Section},
        db::migrate,
    };
    use uuid::Uuid;

    use super::*;
    use crate::repo;

    const NOW: &str = "2026-01-01T00:10:00.000Z";

    fn now() -> Timestamp {
        time::parse(NOW).unwrap()
    }

    fn config() -> WorkflowsConfig {
        WorkflowsConfig::read(&Lookup(&|_| None)).unwrap()
    }

    async fn database() -> Sqlite {
        let db = Sqlite::open(":memory:", 1).unwrap();
        migrate::migrate(&db, "2026-01-01T00:00:00.000Z").await.unwrap();
        db
    }

    async fn user(db: &Sqlite) -> Uuid {
        let id = Uuid::now_v7();
        db.execute(stmt!(
            "INSERT INTO users (id, email, username, password_hash, created_at, updated_at) VALUES (?1, ?2, ?2, 'x', 'now', 'now')",
            id,
            id.simple().to_string()
        ))
        .await
        .unwrap();
        id
    }

    /// A project of `owner`'s with a run of `steps` steps of `kind` that need nothing, started
    /// `at`: as many jobs, due then.
    async fn queue(db: &Sqlite, owner: Uuid, kind: &str, steps: usize, at: &str) -> Uuid {
        let (project, workflow) = (Uuid::now_v7(), Uuid::now_v7());
        db.batch(vec![
            stmt!("INSERT INTO projects (id, name, created_by, created_at, updated_at) VALUES (?1, 'p', ?2, 'now', 'now')", project, owner),
            stmt!("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', 'now')", project, owner),
        ])
        .await
        .unwrap();
        let steps: Vec<serde_json::Value> =
            (0..steps).map(|i| serde_json::json!({"key": format!("s{i}"), "kind": kind, "needs": [], "input": {}})).collect();
        db.batch(repo::create(workflow, project, owner, "w", &serde_json::Value::from(steps).to_string(), at)).await.unwrap();
        db.batch(repo::start(Uuid::now_v7(), workflow, owner, "{}", at)).await.unwrap();
        project
    }

    async fn owner_of(db: &Sqlite, job: &Job) -> Uuid {
        let row = db.query_opt(stmt!("SELECT created_by FROM workflow_runs WHERE id = ?1", job.run_id)).await.unwrap().unwrap();
        row.decode::<(Uuid,)>().unwrap().0
    }

    #[tokio::test]
    async fn a_user_holds_their_share_however_many_projects_they_queue_in() {
        let db = database().await;
        let (greedy, other) = (user(&db).await, user(&db).await);
        for _ in 0..3 {
            queue(&db, greedy, "http", 4, "2026-01-01T00:00:00.000Z").await;
        }
        queue(&db, other, "http", 1, "2026-01-01T00:05:00.000Z").await;
        let config = config();
        let mut claimed = Vec::new();
        while let Some(job) = claim(&db, now(), &config, true).await.unwrap() {
            claimed.push(owner_of(&db, &job).await);
        }
        assert_eq!(claimed.iter().filter(|u| **u == greedy).count(), config.per_user as usize, "{claimed:?}");
        assert_eq!(claimed.iter().filter(|u| **u == other).count(), 1);
        // The other user's job, due last, was not left until the greedy user held their share.
        assert!(claimed.iter().position(|u| *u == other).unwrap() <= 1, "{claimed:?}");
    }

    #[tokio::test]
    async fn the_next_claim_goes_to_the_user_holding_fewest_then_to_the_oldest_job() {
        let db = database().await;
        let (early, late) = (user(&db).await, user(&db).await);
        queue(&db, early, "sleep", 10, "2026-01-01T00:00:00.000Z").await;
        queue(&db, late, "sleep", 10, "2026-01-01T00:09:00.000Z").await;
        let config = config();
        let mut held = Vec::new();
        let mut owners = Vec::new();
        for _ in 0..4 {
            let job = claim(&db, now(), &config, true).await.unwrap().unwrap();
            owners.push(owner_of(&db, &job).await);
            held.push(job);
        }
        assert_eq!(owners, [early, late, early, late]);
        // What counts is the claims held now: a job's end gives its user one back.
        db.execute(held[0].finish()).await.unwrap();
        owners.clear();
        while let Some(job) = claim(&db, now(), &config, true).await.unwrap() {
            owners.push(owner_of(&db, &job).await);
        }
        assert_eq!(owners, [early, early, late, early, late], "then each up to {} claims", config.per_user);
    }

    #[tokio::test]
    async fn a_project_someone_else_fills_does_not_hold_back_a_users_other_projects() {
        let db = database().await;
        let (member, filler) = (user(&db).await, user(&db).await);
        // The member's wide run in a shared project, queued long ago, and one job elsewhere.
        let shared = queue(&db, member, "sleep", 100, "2026-01-01T00:00:00.000Z").await;
        let elsewhere = queue(&db, member, "sleep", 1, "2026-01-01T00:05:00.000Z").await;
        db.execute(stmt!(
            "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?1, ?2, 'maintainer', 'now')",
            shared,
            filler
        ))
        .await
        .unwrap();
        let config = config();
        // The other member holds the shared project's share with claims of their own.
        let (workflow, steps) = (Uuid::now_v7(), serde_json::json!([{"key": "call", "kind": "sleep", "needs": [], "input": {}}]));
        db.batch(repo::create(workflow, shared, filler, "w", &steps.to_string(), NOW)).await.unwrap();
        for _ in 0..config.per_project {
            db.batch(repo::start(Uuid::now_v7(), workflow, filler, "{}", NOW)).await.unwrap();
        }
        db.execute(stmt!("UPDATE jobs SET lease_until = '2026-01-01T01:00:00.000Z' WHERE user_id = ?1", filler)).await.unwrap();
        let job = claim(&db, now(), &config, true).await.unwrap().expect("the job in the other project");
        let row = db.query_opt(stmt!("SELECT project_id FROM jobs WHERE id = ?1", job.id)).await.unwrap().unwrap();
        assert_eq!(row.decode::<(Uuid,)>().unwrap().0, elsewhere);
    }

    #[tokio::test]
    async fn without_calls_http_steps_are_passed_over_for_the_others() {
        let db = database().await;
        let (caller, voter) = (user(&db).await, user(&db).await);
        queue(&db, caller, "http", 3, "2026-01-01T00:00:00.000Z").await;
        queue(&db, voter, "agent", 1, "2026-01-01T00:09:00.000Z").await;
        let config = config();
        let job = claim(&db, now(), &config, false).await.unwrap().unwrap();
        assert_eq!((job.kind, owner_of(&db, &job).await), (Kind::Agent, voter));
        assert!(claim(&db, now(), &config, false).await.unwrap().is_none());
        assert_eq!(claim(&db, now(), &config, true).await.unwrap().unwrap().kind, Kind::Http);
    }

    #[test]
    fn http_steps_leave_a_quarter_of_the_lanes_from_two_up() {
        let shares: Vec<usize> = [1, 2, 3, 4, 8, 16].into_iter().map(http_lanes).collect();
        assert_eq!(shares, [1, 1, 2, 3, 6, 12]);
    }
}

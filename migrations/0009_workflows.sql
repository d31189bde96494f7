-- The workflows group: versioned definitions, their runs, each run's steps, and the durable jobs
-- that advance them.
--
-- A run moves by conditional writes and the triggers below, never by a read before a write:
-- a worker finishes a step with `UPDATE run_steps ... WHERE state = 'running' AND attempt = ?`,
-- and only a write that changed the row fires what follows from it (its dependents becoming
-- ready and their jobs being queued, the run completing or failing), inside the same
-- transaction. A crash between two writes therefore leaves either the step unfinished, with its
-- job still queued, or everything that follows from it done.

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- The current version; every edit adds one.
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX workflows_by_project ON workflows (project_id, created_at, id);

-- Every version a workflow had: a run keeps the one it started with.
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    -- The steps, a JSON array, as checked when the version was written.
    steps TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('running', 'paused', 'completed', 'failed', 'cancelled')),
    -- A JSON value, for steps to reference as {"$input": "/pointer"}.
    input TEXT NOT NULL,
    error TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions (workflow_id, version) ON DELETE CASCADE
) STRICT;

CREATE INDEX runs_by_workflow ON workflow_runs (workflow_id, created_at, id);
CREATE INDEX runs_by_status ON workflow_runs (workflow_id, status, created_at, id);
CREATE INDEX runs_by_project ON workflow_runs (project_id);

-- A step of a run. `waiting_on` counts its needs not yet completed; `attempt` is the attempt now
-- under way (0 before the first), and names the idempotency key of its effects.
CREATE TABLE run_steps (
    run_id TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    -- Where the step is in the definition, and the step as defined (JSON), so that a job reads
    -- its own step without the whole definition.
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'ready', 'running', 'completed', 'failed', 'cancelled')),
    waiting_on INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    -- Calls made for the current attempt of an `http` step: more than one means a worker died
    -- mid-call and the call was made again with the same key; past a few, the attempt fails
    -- rather than let a call that kills its worker come back for ever.
    calls INTEGER NOT NULL DEFAULT 0,
    -- JSON.
    output TEXT,
    error TEXT,
    -- The task a `task` step created.
    task_id TEXT,
    -- When the current attempt started (NULL while a retry waits), and by when it must end.
    started_at TEXT,
    deadline TEXT,
    first_started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX run_steps_by_task ON run_steps (task_id) WHERE task_id IS NOT NULL;

-- `key` needs `needs`: read from the side of the step that completed.
CREATE TABLE run_step_needs (
    run_id TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    needs TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (run_id, needs, key)
) STRICT, WITHOUT ROWID;

-- Events delivered to a run (`POST /v1/runs/{id}/events`), kept for `wait_event` steps that
-- start later too.
CREATE TABLE run_signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX run_signals_by_name ON run_signals (run_id, name, seq);

-- The durable queue: at most one job per step, due at `due_at`. A worker claims a job by
-- setting `lease_until` in one conditional UPDATE, and that value is its claim: it finishes or
-- releases the job only while the lease it set is still there, so a worker that was presumed
-- dead cannot undo the work of the one that took over. A killed worker's lease runs out and the
-- job is claimed again. Times are the service's fixed-width timestamps, which sort as text.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    -- The run's project: a project holds only so many claims at once, so that one project's slow
    -- steps cannot take every worker.
    project_id TEXT NOT NULL,
    due_at TEXT NOT NULL,
    lease_until TEXT NOT NULL DEFAULT '',
    -- How many times it was claimed: more than its step's attempts means redeliveries.
    deliveries INTEGER NOT NULL DEFAULT 0,
    -- How many times something the step waits for happened (an event delivered, a task
    -- finished). A worker that looked and found nothing gives the job back to wait only if this
    -- did not move meanwhile; otherwise the job is due at once, and the step looks again.
    wakes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, step_key)
) STRICT;

CREATE INDEX jobs_by_due ON jobs (due_at, lease_until);
-- The claims held now, by project.
CREATE INDEX jobs_by_lease ON jobs (lease_until, project_id);

-- A completed step counts down its dependents; those that wait on nothing more become ready and
-- are queued while the run is running (a paused run's ready steps are queued when it resumes);
-- a run whose steps all completed is completed.
CREATE TRIGGER run_step_completed AFTER UPDATE OF state ON run_steps
WHEN new.state = 'completed' AND old.state != 'completed'
BEGIN
    UPDATE run_steps SET waiting_on = waiting_on - 1
    WHERE run_id = new.run_id AND key IN (SELECT key FROM run_step_needs WHERE run_id = new.run_id AND needs = new.key);
    UPDATE run_steps SET state = 'ready', updated_at = new.updated_at
    WHERE run_id = new.run_id AND state = 'waiting' AND waiting_on = 0
        AND key IN (SELECT key FROM run_step_needs WHERE run_id = new.run_id AND needs = new.key);
    INSERT INTO jobs (run_id, step_key, project_id, due_at)
    SELECT s.run_id, s.key, r.project_id, new.updated_at FROM run_steps s JOIN workflow_runs r ON r.id = s.run_id
    WHERE s.run_id = new.run_id AND s.state = 'ready' AND r.status = 'running'
        AND s.key IN (SELECT key FROM run_step_needs WHERE run_id = new.run_id AND needs = new.key)
    ON CONFLICT (run_id, step_key) DO NOTHING;
    UPDATE workflow_runs SET status = 'completed', finished_at = new.updated_at, updated_at = new.updated_at
    WHERE id = new.run_id AND status IN ('running', 'paused')
        AND NOT EXISTS (SELECT 1 FROM run_steps WHERE run_id = new.run_id AND state != 'completed');
END;

-- A step that failed for good fails its run.
CREATE TRIGGER run_step_failed AFTER UPDATE OF state ON run_steps
WHEN new.state = 'failed' AND old.state != 'failed'
BEGIN
    UPDATE workflow_runs SET status = 'failed', error = 'step ' || new.key || ' failed: ' || coalesce(new.error, ''),
        finished_at = new.updated_at, updated_at = new.updated_at
    WHERE id = new.run_id AND status IN ('running', 'paused');
END;

-- A run that ends before its steps do (failed or cancelled) cancels what has not finished and
-- drops its jobs; a paused run drops the jobs of steps not yet started and of retries not yet
-- started (attempts under way finish), and a resumed run queues them again.
CREATE TRIGGER run_ended AFTER UPDATE OF status ON workflow_runs
WHEN new.status IN ('failed', 'cancelled') AND old.status IN ('running', 'paused')
BEGIN
    UPDATE run_steps SET state = 'cancelled', finished_at = new.updated_at, updated_at = new.updated_at
    WHERE run_id = new.id AND state IN ('waiting', 'ready', 'running');
    DELETE FROM jobs WHERE run_id = new.id;
END;

CREATE TRIGGER run_paused AFTER UPDATE OF status ON workflow_runs
WHEN new.status = 'paused' AND old.status = 'running'
BEGIN
    DELETE FROM jobs WHERE run_id = new.id AND step_key IN (SELECT key FROM run_steps WHERE run_id = new.id
        AND (state = 'ready' OR (state = 'running' AND started_at IS NULL)));
END;

CREATE TRIGGER run_resumed AFTER UPDATE OF status ON workflow_runs
WHEN new.status = 'running' AND old.status = 'paused'
BEGIN
    INSERT INTO jobs (run_id, step_key, project_id, due_at)
    SELECT run_id, key, new.project_id, new.updated_at FROM run_steps WHERE run_id = new.id AND state IN ('ready', 'running')
    ON CONFLICT (run_id, step_key) DO NOTHING;
END;

-- A task that a `task` step tracks finishing makes the step's job due now.
CREATE TRIGGER run_step_task_finished AFTER UPDATE OF status ON tasks
WHEN new.status IN ('completed', 'failed', 'cancelled') AND old.status != new.status
BEGIN
    UPDATE jobs SET due_at = min(due_at, new.updated_at), wakes = wakes + 1
    WHERE (run_id, step_key) IN (SELECT run_id, key FROM run_steps WHERE task_id = new.id);
END;

-- So does its deletion: the step fails rather than wait for a task that will never finish.
CREATE TRIGGER run_step_task_deleted AFTER DELETE ON tasks
BEGIN
    UPDATE jobs SET due_at = min(due_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), wakes = wakes + 1
    WHERE (run_id, step_key) IN (SELECT run_id, key FROM run_steps WHERE task_id = old.id AND state = 'running');
END;

-- An event delivered to a run makes the jobs of its waiting `wait_event` steps due now; each
-- step decides whether the event is the one it waits for.
CREATE TRIGGER run_signal_delivered AFTER INSERT ON run_signals
BEGIN
    UPDATE jobs SET due_at = min(due_at, new.created_at), wakes = wakes + 1
    WHERE run_id = new.run_id
        AND step_key IN (SELECT key FROM run_steps WHERE run_id = new.run_id AND kind = 'wait_event' AND state = 'running');
END;

-- Definitions on their project's topic. A project's deletion takes its workflows with it; its
-- one `project.deleted` says so.
CREATE TRIGGER workflow_created_event AFTER INSERT ON workflows
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.project_id, 'workflow.created',
        json_object('id', new.id, 'project_id', new.project_id, 'name', new.name, 'version', new.version, 'updated_at', new.updated_at),
        new.created_by, new.created_at);
END;

CREATE TRIGGER workflow_updated_event AFTER UPDATE ON workflows
WHEN old.version != new.version
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.project_id, 'workflow.updated',
        json_object('id', new.id, 'project_id', new.project_id, 'name', new.name, 'version', new.version, 'updated_at', new.updated_at),
        (SELECT actor FROM change_context), new.updated_at);
END;

CREATE TRIGGER workflow_deleted_event AFTER DELETE ON workflows
WHEN EXISTS (SELECT 1 FROM projects WHERE id = old.project_id)
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || old.project_id, 'workflow.deleted', json_object('id', old.id, 'project_id', old.project_id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;

-- Progress on the event log: runs on their own topic and their project's, steps on the run's.
CREATE VIEW run_event_data AS
SELECT id, project_id, json_object('id', id, 'workflow_id', workflow_id, 'version', version, 'project_id', project_id,
        'status', status, 'error', error, 'updated_at', updated_at) AS data
FROM workflow_runs;

CREATE TRIGGER run_created_event AFTER INSERT ON workflow_runs
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'run.started', (SELECT data FROM run_event_data WHERE id = new.id), new.created_by, new.created_at
    FROM (SELECT 'run:' || new.id AS topic UNION ALL SELECT 'project:' || new.project_id);
END;

CREATE TRIGGER run_status_event AFTER UPDATE OF status ON workflow_runs
WHEN old.status != new.status
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic,
        CASE WHEN new.status = 'running' THEN 'run.resumed' ELSE 'run.' || new.status END,
        (SELECT data FROM run_event_data WHERE id = new.id), (SELECT actor FROM change_context), new.updated_at
    FROM (SELECT 'run:' || new.id AS topic UNION ALL SELECT 'project:' || new.project_id);
END;

-- A new state, or a new attempt of a running step (a retry), is news.
CREATE TRIGGER run_step_event AFTER UPDATE OF state, attempt ON run_steps
WHEN old.state != new.state OR old.attempt != new.attempt
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('run:' || new.run_id,
        CASE WHEN old.state = new.state THEN 'step.retrying' ELSE 'step.' || new.state END,
        json_object('run_id', new.run_id, 'key', new.key, 'kind', new.kind, 'state', new.state, 'attempt', new.attempt,
            'error', new.error, 'updated_at', new.updated_at),
        (SELECT actor FROM change_context), new.updated_at);
END;

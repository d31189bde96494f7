-- The event log (a transactional outbox): every change others may watch writes its event here,
-- from a trigger on the changed table, so the event commits or rolls back with the change
-- whichever statement, batch or cascade made it, and nothing can forget to publish. Fan-out
-- reads this log after the commit; replay reads the same log.
--
-- Ids come from one AUTOINCREMENT sequence: never reused after pruning, and since SQLite has one
-- writer, an event with a lower id is committed before one with a higher id. Ids therefore
-- increase per topic, and one id says how far a client has read across all its topics.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    event TEXT NOT NULL,
    -- A JSON object.
    data TEXT NOT NULL,
    actor TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_topic ON events (topic, id);
CREATE INDEX events_by_age ON events (created_at);

-- How far retention has cut each topic's log: a replay from an id below it would miss events.
CREATE TABLE event_horizons (
    topic TEXT PRIMARY KEY,
    pruned_through INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Who is making the changes of the running batch, and when: written first in a batch and
-- deleted last (see `tui_shared::events::Acting`), so it is never seen outside the batch that
-- wrote it. A change made without it (a cascade of a system task) has no actor.
CREATE TABLE change_context (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    actor TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;

-- Projects: on their own topic.
CREATE TRIGGER project_created_event AFTER INSERT ON projects
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.id, 'project.created',
        json_object('id', new.id, 'name', new.name, 'description', new.description,
            'archived', json(CASE new.archived WHEN 1 THEN 'true' ELSE 'false' END), 'version', new.version,
            'updated_at', new.updated_at),
        coalesce((SELECT actor FROM change_context), new.created_by), new.updated_at);
END;

CREATE TRIGGER project_updated_event AFTER UPDATE ON projects
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.id, 'project.updated',
        json_object('id', new.id, 'name', new.name, 'description', new.description,
            'archived', json(CASE new.archived WHEN 1 THEN 'true' ELSE 'false' END), 'version', new.version,
            'updated_at', new.updated_at),
        (SELECT actor FROM change_context), new.updated_at);
END;

CREATE TRIGGER project_deleted_event AFTER DELETE ON projects
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || old.id, 'project.deleted', json_object('id', old.id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;

-- Members: on the project's topic and on the member's own (`user:me`), so that a TUI learns of
-- a project it joined or left, and so that a hub cuts a removed member off at once.
CREATE TRIGGER member_added_event AFTER INSERT ON project_members
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'member.added', json_object('project_id', new.project_id, 'user_id', new.user_id, 'role', new.role),
        (SELECT actor FROM change_context), new.added_at
    FROM (SELECT 'project:' || new.project_id AS topic UNION ALL SELECT 'user:' || new.user_id);
END;

CREATE TRIGGER member_updated_event AFTER UPDATE OF role ON project_members
WHEN old.role != new.role
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'member.updated', json_object('project_id', new.project_id, 'user_id', new.user_id, 'role', new.role),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    FROM (SELECT 'project:' || new.project_id AS topic UNION ALL SELECT 'user:' || new.user_id);
END;

CREATE TRIGGER member_removed_event AFTER DELETE ON project_members
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'member.removed', json_object('project_id', old.project_id, 'user_id', old.user_id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    FROM (SELECT 'project:' || old.project_id AS topic UNION ALL SELECT 'user:' || old.user_id);
END;

-- Tasks: on the task's topic and its project's. A project's deletion takes its tasks with it;
-- its one `project.deleted` says so, rather than an event per task.
CREATE VIEW task_event_data AS
SELECT id, project_id, json_object('id', id, 'project_id', project_id, 'title', title, 'status', status,
        'priority', CASE priority WHEN 0 THEN 'critical' WHEN 1 THEN 'high' WHEN 2 THEN 'medium' ELSE 'low' END,
        'assignee', assignee, 'labels', json(labels), 'due_at', due_at, 'progress', progress,
        'waiting_on', waiting_on, 'version', version, 'updated_at', updated_at) AS data
FROM tasks;

CREATE TRIGGER task_created_event AFTER INSERT ON tasks
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'task.created', (SELECT data FROM task_event_data WHERE id = new.id), new.created_by, new.created_at
    FROM (SELECT 'task:' || new.id AS topic UNION ALL SELECT 'project:' || new.project_id);
END;

-- A new version is news; a recount of what a task waits on is not by itself (the dependency's
-- own event says what changed, and readiness moves bump the version).
CREATE TRIGGER task_updated_event AFTER UPDATE ON tasks
WHEN old.version != new.version
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'task.updated', (SELECT data FROM task_event_data WHERE id = new.id), new.changed_by, new.updated_at
    FROM (SELECT 'task:' || new.id AS topic UNION ALL SELECT 'project:' || new.project_id);
END;

CREATE TRIGGER task_deleted_event AFTER DELETE ON tasks
WHEN EXISTS (SELECT 1 FROM projects WHERE id = old.project_id)
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'task.deleted', json_object('id', old.id, 'project_id', old.project_id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    FROM (SELECT 'task:' || old.id AS topic UNION ALL SELECT 'project:' || old.project_id);
END;

-- Dependencies: on the dependent task's topic and the project's.
CREATE TRIGGER dependency_added_event AFTER INSERT ON task_dependencies
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'dependency.added',
        json_object('task_id', new.task_id, 'depends_on', new.depends_on, 'kind', new.kind, 'project_id', new.project_id),
        (SELECT actor FROM change_context), new.created_at
    FROM (SELECT 'task:' || new.task_id AS topic UNION ALL SELECT 'project:' || new.project_id);
END;

CREATE TRIGGER dependency_removed_event AFTER DELETE ON task_dependencies
WHEN EXISTS (SELECT 1 FROM tasks WHERE id = old.task_id)
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT topic, 'dependency.removed',
        json_object('task_id', old.task_id, 'depends_on', old.depends_on, 'project_id', old.project_id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    FROM (SELECT 'task:' || old.task_id AS topic UNION ALL SELECT 'project:' || old.project_id);
END;

-- Sessions: a revoked (or deleted while live) session is told to the user's topic, so that the
-- sockets it opened close at once.
CREATE TRIGGER session_revoked_event AFTER UPDATE OF revoked_at ON sessions
WHEN old.revoked_at IS NULL AND new.revoked_at IS NOT NULL
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('user:' || new.user_id, 'session.revoked', json_object('session_id', new.id), NULL, new.revoked_at);
END;

CREATE TRIGGER session_deleted_event AFTER DELETE ON sessions
WHEN old.revoked_at IS NULL AND old.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('user:' || old.user_id, 'session.revoked', json_object('session_id', old.id), NULL,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;

-- Realtime tickets: single use, short lived, bound to the session that asked; only a hash is kept.
CREATE TABLE realtime_tickets (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- How many unspent tickets a session holds is counted with every new one.
CREATE INDEX realtime_tickets_by_session ON realtime_tickets (session_id, expires_at);

-- The event streams open where no hub counts connections (Server-Sent Events on Workers and
-- Spin): each refreshes `seen_at` while it runs, and one not seen for a while counts as gone.
CREATE TABLE realtime_streams (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seen_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX realtime_streams_by_user ON realtime_streams (user_id, seen_at);

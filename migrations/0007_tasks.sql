-- The tasks group: tasks in projects, the dependencies between them, and each task's history.
--
-- Readiness is kept by triggers, so that it is decided inside whatever write changes it (a
-- transition, a new or removed dependency, a deleted task) and never by a read before it:
-- `waiting_on` counts a task's dependencies that are not yet satisfied, recounted for exactly
-- the tasks a change can affect (never a scan of the project), and a task that has not started
-- is `ready` when it waits on nothing and `pending` otherwise. A `requires` dependency is
-- satisfied when its task completed; a `blocks` one when its task finished in any way
-- (completed, failed or cancelled).

CREATE TABLE tasks (
    -- A stable integer key for the full-text index (an implicit rowid may change on VACUUM).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'running', 'blocked', 'completed', 'failed', 'cancelled')),
    -- 0 critical, 1 high, 2 medium, 3 low: sorting by priority puts the most urgent first.
    priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),
    assignee TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- A JSON array of strings.
    labels TEXT NOT NULL DEFAULT '[]',
    due_at TEXT,
    progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    waiting_on INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    -- Who made the last change; NULL when the dependencies did.
    changed_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX tasks_by_project ON tasks (project_id, created_at, id);
CREATE INDEX tasks_by_status ON tasks (project_id, status, created_at, id);
CREATE INDEX tasks_by_priority ON tasks (project_id, priority, id);
CREATE INDEX tasks_by_due ON tasks (project_id, due_at, id);
CREATE INDEX tasks_by_update ON tasks (project_id, updated_at, id);
CREATE INDEX tasks_by_assignee ON tasks (assignee, project_id);

-- `task_id` depends on `depends_on`. Deferred, so that a batch may insert a task's dependencies
-- just before the task itself and count what it waits on as it is inserted.
CREATE TABLE task_dependencies (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    depends_on TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    kind TEXT NOT NULL CHECK (kind IN ('blocks', 'requires')),
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, depends_on),
    CHECK (task_id != depends_on)
) STRICT, WITHOUT ROWID;

CREATE INDEX task_dependencies_downstream ON task_dependencies (depends_on, task_id);

-- Numbered per task (`seq`), so that a page's cursor says nothing about anyone else's tasks.
CREATE TABLE task_history (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    actor TEXT,
    from_status TEXT,
    to_status TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
) STRICT, WITHOUT ROWID;

-- The one statement of when a dependency is satisfied: what a task still waits on.
CREATE VIEW task_unsatisfied_dependencies AS
SELECT d.task_id, d.depends_on FROM task_dependencies d JOIN tasks u ON u.id = d.depends_on
WHERE u.status != 'completed' AND (d.kind = 'requires' OR u.status NOT IN ('failed', 'cancelled'));

-- A task's assignee is a member of its project: decided in the write that assigns, so that a
-- member removed a moment before cannot be assigned.
CREATE TRIGGER task_assignee_is_member BEFORE INSERT ON tasks
WHEN new.assignee IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM project_members WHERE project_id = new.project_id AND user_id = new.assignee)
BEGIN
    SELECT RAISE(ABORT, 'constraint failed: the assignee of a task is a member of its project');
END;

CREATE TRIGGER task_assignee_stays_a_member BEFORE UPDATE OF assignee ON tasks
WHEN new.assignee IS NOT NULL AND new.assignee IS NOT old.assignee
    AND NOT EXISTS (SELECT 1 FROM project_members WHERE project_id = new.project_id AND user_id = new.assignee)
BEGIN
    SELECT RAISE(ABORT, 'constraint failed: the assignee of a task is a member of its project');
END;

-- A dependency never leaves its project.
CREATE TRIGGER task_dependency_same_project BEFORE INSERT ON task_dependencies
WHEN (SELECT project_id FROM tasks WHERE id = new.depends_on) IS NOT new.project_id
BEGIN
    SELECT RAISE(ABORT, 'constraint failed: a task dependency stays inside its project');
END;

CREATE TRIGGER task_dependency_added AFTER INSERT ON task_dependencies
BEGIN
    UPDATE tasks SET waiting_on = (SELECT count(*) FROM task_unsatisfied_dependencies WHERE task_id = tasks.id) WHERE id = new.task_id;
END;

CREATE TRIGGER task_dependency_removed AFTER DELETE ON task_dependencies
BEGIN
    UPDATE tasks SET waiting_on = (SELECT count(*) FROM task_unsatisfied_dependencies WHERE task_id = tasks.id) WHERE id = old.task_id;
END;

-- A task that finished (or was retried) recounts the tasks that depend on it, and only those.
CREATE TRIGGER task_status_changed AFTER UPDATE OF status ON tasks
WHEN old.status != new.status
BEGIN
    UPDATE tasks SET waiting_on = (SELECT count(*) FROM task_unsatisfied_dependencies WHERE task_id = tasks.id) WHERE id IN (SELECT task_id FROM task_dependencies WHERE depends_on = new.id);
END;

-- Readiness follows the count for a task that has not started.
CREATE TRIGGER task_readiness AFTER UPDATE OF waiting_on ON tasks
WHEN new.status IN ('pending', 'ready') AND new.status != (CASE WHEN new.waiting_on = 0 THEN 'ready' ELSE 'pending' END)
BEGIN
    UPDATE tasks SET status = CASE WHEN new.waiting_on = 0 THEN 'ready' ELSE 'pending' END,
        version = version + 1, changed_by = NULL,
        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = new.id;
END;

-- History: a row exactly when a status changed, whoever changed it, in the same transaction.
CREATE TRIGGER task_created_history AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_history (task_id, seq, actor, from_status, to_status, at)
    VALUES (new.id, 1, new.created_by, NULL, new.status, new.created_at);
END;

CREATE TRIGGER task_status_history AFTER UPDATE OF status ON tasks
WHEN old.status != new.status
BEGIN
    INSERT INTO task_history (task_id, seq, actor, from_status, to_status, at)
    VALUES (new.id, (SELECT coalesce(max(seq), 0) + 1 FROM task_history WHERE task_id = new.id),
            new.changed_by, old.status, new.status, new.updated_at);
END;

-- Full-text search over title, description and labels (FTS5: embedded libSQL, Turso, D1 and
-- Spin's SQLite all carry it), kept in step by triggers.
-- Prefix indexes for the two- and three-letter starts of words, which search asks for most.
CREATE VIRTUAL TABLE tasks_search USING fts5 (title, description, labels, content = 'tasks', content_rowid = 'seq', prefix = '2 3');

CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO tasks_search (rowid, title, description, labels) VALUES (new.seq, new.title, new.description, new.labels);
END;

CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks
BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, title, description, labels)
    VALUES ('delete', old.seq, old.title, old.description, old.labels);
END;

CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, description, labels ON tasks
BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, title, description, labels)
    VALUES ('delete', old.seq, old.title, old.description, old.labels);
    INSERT INTO tasks_search (rowid, title, description, labels) VALUES (new.seq, new.title, new.description, new.labels);
END;

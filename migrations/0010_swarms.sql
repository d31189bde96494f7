-- The swarms group: swarms of AI agents in a project, their orchestrations (runs of the
-- workflow engine whose steps are agents' Claude calls), every call's tokens, the outcomes the
-- learned assignment trains on and its models, votes, and shared memory.
--
-- Each swarm owns one workflow, with the swarm's id, whose runs are its orchestrations and its
-- votes' deadlines: they advance by the same jobs, leases and triggers as any run, so they
-- survive restarts the same way. Such a workflow is not listed, edited or started as a user's.

ALTER TABLE workflows ADD COLUMN swarm_id TEXT;

-- A swarm's own workflow is not news on its project's topic: the swarm's creation is.
DROP TRIGGER workflow_created_event;
CREATE TRIGGER workflow_created_event AFTER INSERT ON workflows
WHEN new.swarm_id IS NULL
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.project_id, 'workflow.created',
        json_object('id', new.id, 'project_id', new.project_id, 'name', new.name, 'version', new.version, 'updated_at', new.updated_at),
        new.created_by, new.created_at);
END;

DROP TRIGGER workflow_deleted_event;
CREATE TRIGGER workflow_deleted_event AFTER DELETE ON workflows
WHEN old.swarm_id IS NULL AND EXISTS (SELECT 1 FROM projects WHERE id = old.project_id)
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || old.project_id, 'workflow.deleted', json_object('id', old.id, 'project_id', old.project_id),
        (SELECT actor FROM change_context),
        coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;

CREATE TABLE swarms (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    topology TEXT NOT NULL CHECK (topology IN ('mesh', 'hierarchical', 'ring', 'star')),
    strategy TEXT NOT NULL CHECK (strategy IN ('auto', 'balanced', 'specialized', 'adaptive')),
    max_agents INTEGER NOT NULL CHECK (max_agents BETWEEN 1 AND 20),
    -- The coordinator's version: every change to the swarm's agents moves it, and an assignment
    -- made from a stale view of them is refused by it (and made again from a fresh one).
    version INTEGER NOT NULL DEFAULT 1,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX swarms_by_project ON swarms (project_id, id);

CREATE TABLE swarm_agents (
    id TEXT PRIMARY KEY,
    swarm_id TEXT NOT NULL REFERENCES swarms (id) ON DELETE CASCADE,
    -- Its place in the swarm: the ring's order, and which agents a scale-down retires first.
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    -- A JSON array of words the mesh topology matches subtasks' capabilities against.
    capabilities TEXT NOT NULL,
    -- `retiring` takes no new work and becomes `retired` when its last subtask ends.
    status TEXT NOT NULL CHECK (status IN ('idle', 'busy', 'retiring', 'retired')),
    -- Subtasks assigned to it and not yet finished.
    load INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    failed_calls INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (swarm_id, seq)
) STRICT;

-- An orchestration: its id is its run's.
CREATE TABLE orchestrations (
    id TEXT PRIMARY KEY REFERENCES workflow_runs (id) ON DELETE CASCADE,
    swarm_id TEXT NOT NULL REFERENCES swarms (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    task TEXT NOT NULL,
    strategy TEXT NOT NULL,
    priority TEXT NOT NULL,
    -- JSON: what the caller says the task depends on, given to the planner.
    dependencies TEXT NOT NULL,
    model TEXT NOT NULL,
    max_tokens INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planning', 'running', 'paused', 'completed', 'failed', 'cancelled')),
    -- JSON: the plan as validated, laid out once; the token names the coordinator's change
    -- that recorded it, which the steps it lays out are written under.
    plan TEXT,
    plan_token TEXT,
    -- JSON: a plan made by an attempt that could not lay it out, for the next one to use.
    plan_draft TEXT,
    result TEXT,
    error TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
) STRICT;

CREATE INDEX orchestrations_by_swarm ON orchestrations (swarm_id, id);

-- An agent's share of an orchestration: a subtask, a lead's review of its workers' results, or
-- the synthesis. `step_key` is its step in the run.
CREATE TABLE orchestration_subtasks (
    orchestration_id TEXT NOT NULL REFERENCES orchestrations (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('subtask', 'review', 'synthesis')),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- `json` asks for a JSON object; `sections` (JSON array) for headings the answer must have.
    format TEXT NOT NULL CHECK (format IN ('text', 'json')),
    sections TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES swarm_agents (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'invalid', 'failed', 'cancelled')),
    result TEXT,
    -- JSON array of what the last answer lacked.
    validation_errors TEXT,
    calls INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (orchestration_id, step_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX subtasks_by_agent ON orchestration_subtasks (agent_id, status);

-- Every call to Claude: who it was for, and what it cost.
CREATE TABLE claude_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL,
    swarm_id TEXT,
    agent_id TEXT,
    orchestration_id TEXT,
    run_id TEXT NOT NULL,
    step_key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    model TEXT NOT NULL,
    ok INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    -- The tokens held back from the user's budget before the call (on `day`), given back by this
    -- record, and those it charges: the tokens used, and for each attempt cut off after it went
    -- out (whose use is unknown) all it might have used.
    reserved INTEGER NOT NULL,
    charged INTEGER NOT NULL,
    day TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX claude_calls_by_orchestration ON claude_calls (orchestration_id, id);
CREATE INDEX claude_calls_by_project ON claude_calls (project_id, created_at);

-- A user's tokens per UTC day, and those held for calls under way: a call is made only if the
-- holding fits the budget, decided in the statement that holds it.
CREATE TABLE claude_usage (
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER claude_call_recorded AFTER INSERT ON claude_calls
BEGIN
    UPDATE claude_usage SET tokens = tokens + new.charged, reserved = max(0, reserved - new.reserved)
    WHERE user_id = new.user_id AND day = new.day;
    UPDATE swarms SET input_tokens = input_tokens + new.input_tokens, output_tokens = output_tokens + new.output_tokens
    WHERE id = new.swarm_id;
    UPDATE swarm_agents SET calls = calls + 1, failed_calls = failed_calls + (1 - new.ok),
        input_tokens = input_tokens + new.input_tokens, output_tokens = output_tokens + new.output_tokens,
        latency_ms = latency_ms + new.latency_ms
    WHERE id = new.agent_id;
    UPDATE orchestrations SET input_tokens = input_tokens + new.input_tokens, output_tokens = output_tokens + new.output_tokens
    WHERE id = new.orchestration_id;
    UPDATE orchestration_subtasks SET calls = calls + 1, input_tokens = input_tokens + new.input_tokens,
        output_tokens = output_tokens + new.output_tokens
    WHERE orchestration_id = new.orchestration_id AND step_key = new.step_key;
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT 'swarm:' || new.swarm_id, 'usage',
        json_object('agent_id', new.agent_id, 'orchestration_id', new.orchestration_id, 'purpose', new.purpose, 'ok', new.ok = 1,
            'input_tokens', new.input_tokens, 'output_tokens', new.output_tokens,
            'swarm_input_tokens', s.input_tokens, 'swarm_output_tokens', s.output_tokens),
        new.user_id, new.created_at
    FROM swarms s WHERE s.id = new.swarm_id;
END;

-- What the learned assignment trains on: each agent call's outcome.
CREATE TABLE agent_outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    swarm_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    task_kind TEXT NOT NULL,
    success INTEGER NOT NULL,
    valid INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX agent_outcomes_by_project ON agent_outcomes (project_id, id);

-- Trained models, versioned per project and pattern type.
CREATE TABLE pattern_models (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    swarm_id TEXT NOT NULL,
    pattern_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- JSON: the fitted parameters.
    parameters TEXT NOT NULL,
    -- JSON: log loss and accuracy on the held-out split, sample counts.
    metrics TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (project_id, pattern_type, version)
) STRICT;

CREATE TABLE consensus (
    id TEXT PRIMARY KEY,
    swarm_id TEXT NOT NULL REFERENCES swarms (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    -- The run whose one step closes the vote at its deadline.
    run_id TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    proposal TEXT NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('majority', 'weighted', 'byzantine')),
    -- The agents that may vote: the swarm's active agents when the vote opened.
    voters INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'decided', 'no_consensus')),
    decision TEXT,
    -- JSON: the votes counted, by value.
    tally TEXT,
    deadline TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT
) STRICT;

CREATE INDEX consensus_by_run ON consensus (run_id);

CREATE TABLE consensus_voters (
    consensus_id TEXT NOT NULL REFERENCES consensus (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    PRIMARY KEY (consensus_id, agent_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE consensus_votes (
    consensus_id TEXT NOT NULL REFERENCES consensus (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    vote TEXT NOT NULL,
    confidence REAL NOT NULL,
    cast_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (consensus_id, agent_id)
) STRICT, WITHOUT ROWID;

-- A vote whose closing run ended without closing it (cancelled, or its opener lost their role)
-- closes without a decision.
CREATE TRIGGER consensus_run_ended AFTER UPDATE OF status ON workflow_runs
WHEN new.status IN ('failed', 'cancelled') AND old.status != new.status
BEGIN
    UPDATE consensus SET status = 'no_consensus', closed_at = new.updated_at WHERE run_id = new.id AND status = 'open';
END;

-- A vote makes the closing step look at once: it may be decided already.
CREATE TRIGGER consensus_vote_cast AFTER INSERT ON consensus_votes
BEGIN
    UPDATE jobs SET due_at = min(due_at, new.created_at), wakes = wakes + 1
    WHERE run_id = (SELECT run_id FROM consensus WHERE id = new.consensus_id);
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT 'swarm:' || c.swarm_id, 'consensus.vote',
        json_object('consensus_id', c.id, 'agent_id', new.agent_id, 'vote', new.vote, 'confidence', new.confidence),
        new.cast_by, new.created_at
    FROM consensus c WHERE c.id = new.consensus_id;
END;

CREATE TRIGGER consensus_opened AFTER INSERT ON consensus
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('swarm:' || new.swarm_id, 'consensus.opened',
        json_object('id', new.id, 'algorithm', new.algorithm, 'voters', new.voters, 'deadline', new.deadline),
        new.created_by, new.created_at);
END;

CREATE TRIGGER consensus_closed AFTER UPDATE OF status ON consensus
WHEN old.status = 'open' AND new.status != 'open'
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('swarm:' || new.swarm_id, 'consensus.closed',
        json_object('id', new.id, 'status', new.status, 'decision', new.decision, 'tally', json(new.tally)),
        new.created_by, new.closed_at);
END;

-- Shared memory: values by namespace and key, gone after their TTL; keys and values are
-- indexed for full-text search.
CREATE TABLE swarm_memory (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    swarm_id TEXT NOT NULL REFERENCES swarms (id) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    -- JSON.
    value TEXT NOT NULL,
    -- Its text, for search.
    body TEXT NOT NULL,
    expires_at TEXT,
    updated_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (swarm_id, namespace, key)
) STRICT;

CREATE INDEX swarm_memory_expiry ON swarm_memory (expires_at) WHERE expires_at IS NOT NULL;

CREATE VIRTUAL TABLE swarm_memory_fts USING fts5 (key, body, content = 'swarm_memory', content_rowid = 'id');

CREATE TRIGGER swarm_memory_indexed AFTER INSERT ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (rowid, key, body) VALUES (new.id, new.key, new.body);
END;

CREATE TRIGGER swarm_memory_reindexed AFTER UPDATE ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (swarm_memory_fts, rowid, key, body) VALUES ('delete', old.id, old.key, old.body);
    INSERT INTO swarm_memory_fts (rowid, key, body) VALUES (new.id, new.key, new.body);
END;

CREATE TRIGGER swarm_memory_unindexed AFTER DELETE ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (swarm_memory_fts, rowid, key, body) VALUES ('delete', old.id, old.key, old.body);
END;

-- A subtask assigned counts on its agent until it ends; an agent with work is busy, and a
-- retiring one retires when its last subtask ends.
CREATE TRIGGER subtask_assigned AFTER INSERT ON orchestration_subtasks
BEGIN
    UPDATE swarm_agents SET load = load + 1, status = CASE WHEN status = 'idle' THEN 'busy' ELSE status END, updated_at = new.updated_at
    WHERE id = new.agent_id;
END;

CREATE TRIGGER subtask_ended AFTER UPDATE OF status ON orchestration_subtasks
WHEN old.status IN ('pending', 'running') AND new.status NOT IN ('pending', 'running')
BEGIN
    UPDATE swarm_agents SET load = max(0, load - 1),
        completed = completed + (new.status = 'completed'), failed = failed + (new.status IN ('failed', 'invalid')),
        status = CASE
            WHEN load <= 1 AND status = 'retiring' THEN 'retired'
            WHEN load <= 1 AND status = 'busy' THEN 'idle'
            ELSE status END,
        updated_at = new.updated_at
    WHERE id = new.agent_id;
END;

CREATE TRIGGER subtask_event AFTER UPDATE OF status ON orchestration_subtasks
WHEN old.status != new.status
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT 'swarm:' || o.swarm_id, 'subtask.' || new.status,
        json_object('orchestration_id', new.orchestration_id, 'key', new.step_key, 'role', new.role, 'agent_id', new.agent_id,
            'status', new.status, 'input_tokens', new.input_tokens, 'output_tokens', new.output_tokens),
        o.created_by, new.updated_at
    FROM orchestrations o WHERE o.id = new.orchestration_id;
END;

-- The end of a run that is an orchestration ends its subtasks not yet ended, and the
-- orchestration follows its run's status.
CREATE TRIGGER orchestration_run_status AFTER UPDATE OF status ON workflow_runs
WHEN old.status != new.status AND EXISTS (SELECT 1 FROM orchestrations WHERE id = new.id)
BEGIN
    UPDATE orchestration_subtasks SET status = 'cancelled', updated_at = new.updated_at
    WHERE orchestration_id = new.id AND status IN ('pending', 'running') AND new.status IN ('failed', 'cancelled');
    UPDATE orchestrations SET
        status = CASE
            WHEN new.status = 'running' THEN CASE WHEN plan IS NULL THEN 'planning' ELSE 'running' END
            ELSE new.status END,
        error = coalesce(error, new.error),
        finished_at = new.finished_at, updated_at = new.updated_at
    WHERE id = new.id;
END;

-- Every change to a swarm's agents (their status, their load) moves its version.
CREATE TRIGGER swarm_agents_changed AFTER UPDATE OF status, load ON swarm_agents
WHEN old.status != new.status OR old.load != new.load
BEGIN
    UPDATE swarms SET version = version + 1, updated_at = new.updated_at WHERE id = new.swarm_id;
END;

CREATE TRIGGER swarm_agent_added AFTER INSERT ON swarm_agents
BEGIN
    UPDATE swarms SET version = version + 1, updated_at = new.created_at WHERE id = new.swarm_id;
END;

CREATE TRIGGER agent_event AFTER INSERT ON swarm_agents
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT 'swarm:' || new.swarm_id, 'agent.added',
        json_object('id', new.id, 'type', new.type, 'name', new.name, 'status', new.status), (SELECT actor FROM change_context), new.created_at;
END;

CREATE TRIGGER agent_status_event AFTER UPDATE OF status ON swarm_agents
WHEN old.status != new.status
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    SELECT 'swarm:' || new.swarm_id, 'agent.status',
        json_object('id', new.id, 'type', new.type, 'status', new.status, 'load', new.load), (SELECT actor FROM change_context), new.updated_at;
END;

CREATE TRIGGER orchestration_event AFTER UPDATE OF status ON orchestrations
WHEN old.status != new.status
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('swarm:' || new.swarm_id, 'orchestration.' || new.status,
        json_object('id', new.id, 'status', new.status, 'error', new.error,
            'input_tokens', new.input_tokens, 'output_tokens', new.output_tokens),
        (SELECT actor FROM change_context), new.updated_at);
END;

CREATE TRIGGER orchestration_started_event AFTER INSERT ON orchestrations
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('swarm:' || new.swarm_id, 'orchestration.started', json_object('id', new.id, 'task', new.task, 'strategy', new.strategy),
        new.created_by, new.created_at);
END;

CREATE TRIGGER swarm_created_event AFTER INSERT ON swarms
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || new.project_id, 'swarm.created',
        json_object('id', new.id, 'name', new.name, 'topology', new.topology, 'strategy', new.strategy), new.created_by, new.created_at);
END;

CREATE TRIGGER swarm_deleted_event AFTER DELETE ON swarms
WHEN EXISTS (SELECT 1 FROM projects WHERE id = old.project_id)
BEGIN
    INSERT INTO events (topic, event, data, actor, created_at)
    VALUES ('project:' || old.project_id, 'swarm.deleted', json_object('id', old.id),
        (SELECT actor FROM change_context), coalesce((SELECT at FROM change_context), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;

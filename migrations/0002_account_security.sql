-- Account security: lockout counters, personal API keys, password resets, the audit log,
-- and the link from a spent refresh token to the one that replaced it.

ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_since TEXT;
ALTER TABLE users ADD COLUMN locked_until TEXT;

-- Set when a refresh token is spent, so that only the rotation that spent it may add its child.
ALTER TABLE refresh_tokens ADD COLUMN child_hash TEXT;

-- Personal API keys, stored only as SHA-256 hashes; `prefix` is the first characters, shown
-- so that a user can tell keys apart.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;
CREATE INDEX api_keys_by_user ON api_keys (user_id);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
) STRICT;
CREATE INDEX password_resets_by_user ON password_resets (user_id);

-- Who did what, from where; ids are UUIDv7, so id order is time order.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    request_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

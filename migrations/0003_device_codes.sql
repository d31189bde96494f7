-- Device authorization (RFC 8628): the TUI shows a user code, a person approves it in a
-- browser, and the TUI's polling turns the device code into a session.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    interval_s INTEGER NOT NULL,
    last_polled_at TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

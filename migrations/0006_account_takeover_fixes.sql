-- Accounts, second pass: verified emails and email changes by mailed link, lockout counted
-- before the password is checked (for unknown logins too), SSO state bound to the browser,
-- and device logins that show who asked.

ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
-- An email change waiting for the link mailed to the new address.
ALTER TABLE users ADD COLUMN pending_email TEXT;

-- Single-use links mailed to an address: `verify` proves the account's email, `change` makes
-- `email` the account's email. Stored only as SHA-256 hashes.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify', 'change')),
    email TEXT NOT NULL COLLATE NOCASE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
) STRICT;
CREATE INDEX email_tokens_by_user ON email_tokens (user_id);

-- Failed password checks per login: `key` is a hash of the login as typed (an email and a
-- username count apart, so a lock tells nothing about which names belong together, nor
-- whether an account exists), or a session id for checks made by a signed-in session. A check
-- takes one of the window's remaining tries before the password is verified (`in_flight`), in
-- the statement that checks the lock, so racing guesses cannot get more tries than the limit;
-- a success gives it back, a failure turns it into a failure, and a try never reported back (a
-- cancelled request, a crash) stays taken until the window ends: it fails closed.
CREATE TABLE login_attempts (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT,
    in_flight INTEGER NOT NULL DEFAULT 0
) STRICT;

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN failed_since;
ALTER TABLE users DROP COLUMN locked_until;

-- The SSO state is bound to the browser that started it (a hash of its cookie).
ALTER TABLE oauth_states ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';

-- When the person behind a session last proved who they are (a password, an identity
-- provider): a session it opened. A device login's session never counts as fresh. NULL for
-- older sessions: their start.
ALTER TABLE sessions ADD COLUMN authenticated_at TEXT;

-- Whether an identity was linked by an email someone proved (a provider trusted for emails,
-- or a verified account). Unproven links are dropped once the mailbox's owner proves it.
ALTER TABLE user_identities ADD COLUMN email_proven INTEGER NOT NULL DEFAULT 1 CHECK (email_proven IN (0, 1));
-- Links made before this rule could not have been proven by a verified account: treat them as
-- unproven, so that the owner of the mailbox taking the account back ends them.
UPDATE user_identities SET email_proven = 0;

-- Who asked for a device code, shown to the person asked to approve it; and the browser that
-- finished single sign-on for it, which alone may then confirm it.
ALTER TABLE device_codes ADD COLUMN client_ip TEXT;
ALTER TABLE device_codes ADD COLUMN client_user_agent TEXT;
ALTER TABLE device_codes ADD COLUMN confirm_user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE device_codes ADD COLUMN confirm_hash TEXT;

CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX password_resets_by_expiry ON password_resets (expires_at);
CREATE INDEX device_codes_by_expiry ON device_codes (expires_at);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE INDEX email_tokens_by_expiry ON email_tokens (expires_at);

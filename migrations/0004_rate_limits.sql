-- Rate-limit counters, for runtimes that keep them in SQL (Spin). One fixed window per key.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL
) STRICT;

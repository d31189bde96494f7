-- Swarm memory search that reads only the searcher's swarm, and memory bounded per user.
--
-- 0010's index held every swarm's words as plain words: `?q=a` asked for every word starting
-- with `a` in every swarm, and FTS5 gathers a prefix's rows (and bm25 counts each term's rows)
-- over the whole index before any filter on the swarm applies. Here each indexed word carries
-- its swarm's token, the swarm id without dashes (32 hex digits): `0190...9f` + `parser`. A term,
-- and a prefix of any length, then names one swarm's words alone, and the query built by
-- `tui_shared::search::query_in` always starts every term with the searcher's token. FTS5's
-- `ascii` tokenizer splits only at ASCII characters that are not letters or digits, none of
-- which `body` holds (`tui_shared::search::indexed_words`), so no word loses its token. The
-- prefix indexes are those of the tasks search, two and three letters, after the token.

-- `body` becomes the entry's words, as `indexed_words` writes them from now on: its key's and its
-- value's, lowercased, one space apart. Those of existing entries come from the old index (its
-- terms, already folded), which is the only tokenizer SQL has.
CREATE VIRTUAL TABLE swarm_memory_words USING fts5vocab (swarm_memory_fts, 'instance');

CREATE TABLE swarm_memory_rewords (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;

INSERT INTO swarm_memory_rewords (id, body) SELECT doc, group_concat(term, ' ') FROM swarm_memory_words GROUP BY doc;

DROP TABLE swarm_memory_words;

DROP TRIGGER swarm_memory_indexed;

DROP TRIGGER swarm_memory_reindexed;

DROP TRIGGER swarm_memory_unindexed;

DROP TABLE swarm_memory_fts;

UPDATE swarm_memory SET body = coalesce((SELECT r.body FROM swarm_memory_rewords r WHERE r.id = swarm_memory.id), '');

DROP TABLE swarm_memory_rewords;

-- What the index holds: every word of `body` after the swarm's token. Computed, not stored, so
-- the external-content index reads back exactly what it indexed.
ALTER TABLE swarm_memory ADD COLUMN terms TEXT GENERATED ALWAYS AS (replace(' ' || body, ' ', ' ' || replace(swarm_id, '-', ''))) VIRTUAL;

CREATE VIRTUAL TABLE swarm_memory_fts USING fts5 (
    terms, content = 'swarm_memory', content_rowid = 'id', tokenize = 'ascii', prefix = '34 35'
);

INSERT INTO swarm_memory_fts (swarm_memory_fts) VALUES ('rebuild');

-- Only words, as `indexed_words` writes them, ever reach the index: an ASCII character other
-- than a lowercase letter, a digit or the space between words would let a word carry another
-- swarm's token after it (`x:<token>word`). The builds of this schema never write one; a build
-- from before it (Workers are deployed one group at a time) wrote the value's raw text here, and
-- is refused rather than indexed.
CREATE TRIGGER swarm_memory_words_only BEFORE INSERT ON swarm_memory
WHEN new.body GLOB ('*[^ 0-9a-z' || char(128) || '-' || char(1114111) || ']*')
BEGIN
    SELECT RAISE(ABORT, 'swarm_memory.body holds only lowercase words one space apart');
END;

CREATE TRIGGER swarm_memory_words_only_again BEFORE UPDATE OF body ON swarm_memory
WHEN new.body GLOB ('*[^ 0-9a-z' || char(128) || '-' || char(1114111) || ']*')
BEGIN
    SELECT RAISE(ABORT, 'swarm_memory.body holds only lowercase words one space apart');
END;

CREATE TRIGGER swarm_memory_indexed AFTER INSERT ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (rowid, terms) VALUES (new.id, new.terms);
END;

CREATE TRIGGER swarm_memory_reindexed AFTER UPDATE OF swarm_id, body ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (swarm_memory_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
    INSERT INTO swarm_memory_fts (rowid, terms) VALUES (new.id, new.terms);
END;

CREATE TRIGGER swarm_memory_unindexed AFTER DELETE ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_fts (swarm_memory_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
END;

-- Memory per user, across every swarm: the entries each user wrote last, and their bytes (of
-- `value` and `body`, as the per-swarm quota counts them). A write is refused inside its own
-- statement when it would take its writer past the bound (`functions/swarms/src/repo.rs`
-- `put_memory`); the counts follow every insert, overwrite and delete (a swarm's cascade and
-- expiry pruning included), so that check reads one row instead of summing the user's memory.
CREATE TABLE swarm_memory_usage (
    user_id TEXT PRIMARY KEY,
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO swarm_memory_usage (user_id, entries, bytes)
SELECT updated_by, count(*), sum(length(CAST(value AS BLOB)) + length(CAST(body AS BLOB))) FROM swarm_memory GROUP BY updated_by;

CREATE TRIGGER swarm_memory_counted AFTER INSERT ON swarm_memory
BEGIN
    INSERT INTO swarm_memory_usage (user_id, entries, bytes)
    VALUES (new.updated_by, 1, length(CAST(new.value AS BLOB)) + length(CAST(new.body AS BLOB)))
    ON CONFLICT (user_id) DO UPDATE SET entries = entries + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER swarm_memory_recounted AFTER UPDATE OF value, body, updated_by ON swarm_memory
BEGIN
    UPDATE swarm_memory_usage SET entries = entries - 1,
        bytes = bytes - length(CAST(old.value AS BLOB)) - length(CAST(old.body AS BLOB))
    WHERE user_id = old.updated_by;
    INSERT INTO swarm_memory_usage (user_id, entries, bytes)
    VALUES (new.updated_by, 1, length(CAST(new.value AS BLOB)) + length(CAST(new.body AS BLOB)))
    ON CONFLICT (user_id) DO UPDATE SET entries = entries + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER swarm_memory_uncounted AFTER DELETE ON swarm_memory
BEGIN
    UPDATE swarm_memory_usage SET entries = entries - 1,
        bytes = bytes - length(CAST(old.value AS BLOB)) - length(CAST(old.body AS BLOB))
    WHERE user_id = old.updated_by;
END;

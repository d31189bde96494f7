-- Workflow workers shared fairly between users, not only between projects: projects are free,
-- so a cap per project alone let one user take every worker with slow steps in a few of them.
--
-- A job now carries whose authority its run acts on (the run's creator) and what kind of step
-- it is for. The claim (functions/workflows/src/jobs.rs `claim`) skips the jobs of users who
-- hold as many claims as a user may, gives the next claim to the user holding the fewest (then
-- to the job due longest ago), and leaves `http` steps, which may hold a claim for minutes,
-- only part of the workers, so that other steps (an orchestration's plan, a vote closing)
-- always find one.

ALTER TABLE jobs ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '';

UPDATE jobs SET user_id = (SELECT created_by FROM workflow_runs WHERE id = jobs.run_id),
    kind = (SELECT kind FROM run_steps WHERE run_id = jobs.run_id AND key = jobs.step_key);

-- Every job is filled here, whichever statement or trigger inserts it, and whichever build of a
-- group does (Workers are deployed one group at a time): a job never goes without its user.
CREATE TRIGGER job_owner AFTER INSERT ON jobs
BEGIN
    UPDATE jobs SET user_id = (SELECT created_by FROM workflow_runs WHERE id = new.run_id),
        kind = (SELECT kind FROM run_steps WHERE run_id = new.run_id AND key = new.step_key)
    WHERE id = new.id;
END;

-- A claim looks at each user's jobs of each kind from the oldest due: one seek per user and
-- kind, then along the index, which holds what decides whether a job may be taken (its lease,
-- its project), to the first one it may.
CREATE INDEX jobs_by_user ON jobs (user_id, kind, due_at, lease_until, project_id);

-- The claims held now (a lease in the future, few rows), counted per user and per project
-- straight from the index.
DROP INDEX jobs_by_lease;
CREATE INDEX jobs_held ON jobs (lease_until, user_id, project_id);

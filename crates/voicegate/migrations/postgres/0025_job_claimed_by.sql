-- The instance that claimed a job last (its id, new at every start): with several instances on
-- one database, which one ran or runs a job.

ALTER TABLE jobs ADD COLUMN claimed_by TEXT;

-- Per-user quotas: the size of each recording's file (the byte quota sums it over a user's voice
-- accounts), and an index for counting a user's devices. Recordings stored before this
-- migration have no size yet; the server measures their files in the blob store when it starts.

ALTER TABLE voice_recordings ADD COLUMN bytes INTEGER;
CREATE INDEX voice_devices_owner ON voice_devices (owner_id);

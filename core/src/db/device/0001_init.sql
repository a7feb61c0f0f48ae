-- The device database: who this device is and which projects it belongs to.

-- Exactly one row. device_id tells which root key owns this data folder.
CREATE TABLE device (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    device_id BLOB NOT NULL,
    name TEXT,
    device_type TEXT
);

-- One row per project this device has joined (or left). The join details (creator id and
-- creator proof, from which the project key derives) are sealed under the storage key.
CREATE TABLE projects (
    project_id BLOB PRIMARY KEY,
    sealed_join_details BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('joined', 'left')),
    joined_at INTEGER NOT NULL,
    left_at INTEGER
);

-- The device's blob policy (which attachment variants it downloads), as JSON. No row: the
-- default (archive).
CREATE TABLE blob_policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    policy TEXT NOT NULL
);

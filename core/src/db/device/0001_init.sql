-- The device database: who this device is and which projects it belongs to.

-- Exactly one row. device_id tells which root key owns this data folder.
CREATE TABLE device (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    device_id BLOB NOT NULL,
    name TEXT,
    device_type TEXT
);

-- One row per project this device has joined (or left, or is joining: it holds the join
-- details from an accepted invite and waits for the record of its role). The join details (creator id and
-- creator proof, from which the project key derives) are sealed under the storage key.
CREATE TABLE projects (
    project_id BLOB PRIMARY KEY,
    sealed_join_details BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('joining', 'joined', 'left')),
    joined_at INTEGER NOT NULL,
    left_at INTEGER
);

-- Invites this device received, and where each stands. The offer (project name, role,
-- inviter name; never a key) is CBOR.
CREATE TABLE received_invites (
    invite_id BLOB PRIMARY KEY,
    from_device BLOB NOT NULL,
    project_id BLOB NOT NULL,
    offer BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL
);

-- The device's blob policy (which attachment variants it downloads), as JSON. No row: the
-- default (archive).
CREATE TABLE blob_policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    policy TEXT NOT NULL
);

-- A row here while this device has joined the project but not yet heard, from any peer, how
-- far its own feeds go: a device restored from its backup code may have written entries that
-- only the other members now hold, and appending before they come back would fork its feeds.
CREATE TABLE awaiting_own_entries (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);

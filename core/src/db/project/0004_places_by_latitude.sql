-- The spatial index moves from an R-tree to a plain table with a B-tree index on (lat, lon).
-- Every indexed location is a point, which an R-tree gains nothing from: each R-tree insert
-- chose a leaf by area and rewrote its leaf and parent nodes through SQL, the largest single
-- cost of storing a synced observation. A range of latitudes read from (lat, lon), with the
-- longitude checked in the same index entry, answers an area query as well. Points keep their
-- full precision (the R-tree stored 32-bit floats rounded outwards, so a point on the edge of
-- an area could fall outside it); those indexed before this migration keep the R-tree's
-- southern and western bounds.
CREATE TABLE obs_place (
    id INTEGER PRIMARY KEY,
    lat REAL NOT NULL,
    lon REAL NOT NULL
);
INSERT INTO obs_place (id, lat, lon) SELECT id, min_lat, min_lon FROM obs_location;
CREATE INDEX obs_place_by_lat ON obs_place (lat, lon);
DROP TABLE obs_location;

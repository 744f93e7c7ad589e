-- whatsmeow keeps its device store in this database and creates its own
-- tables on start. Its PostgreSQL check for an existing version table looks
-- at information_schema across every schema of the database, so another
-- schema holding whatsmeow tables would make it skip creating its own.
-- Creating the (empty) version table here makes that check true for the
-- right reason; whatsmeow then applies all of its upgrades from version 0.
CREATE TABLE IF NOT EXISTS whatsmeow_version (version INTEGER, compat INTEGER);

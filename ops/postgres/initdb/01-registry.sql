-- Runs once, on the first start of the compose PostgreSQL (empty data volume): the
-- schema registry keeps its schemas in a database of its own.
CREATE DATABASE registry;

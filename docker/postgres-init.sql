-- One database per service (each has its own Alembic history), owned by POSTGRES_USER.
-- The postgres image runs this once, on an empty data directory.
CREATE DATABASE ingest;
CREATE DATABASE session;
CREATE DATABASE divan;

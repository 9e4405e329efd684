"""The sample app's database: one table `greeting` with one row, created on first use.

Connections use libpq's defaults (PGSERVICE / PGSERVICEFILE from the environment), so this
module names no host, user or password.
"""

import psycopg2

Error = psycopg2.Error

DEFAULT_GREETING = "hello from postgres"

# Several app processes may start at once: the advisory lock makes them create the table one
# after another, so exactly one inserts the first row.
SCHEMA = """
SELECT pg_advisory_xact_lock(4242);
CREATE TABLE IF NOT EXISTS greeting (id integer PRIMARY KEY, text text NOT NULL);
INSERT INTO greeting (id, text) VALUES (1, %s) ON CONFLICT (id) DO NOTHING;
"""

_schema_ready = False


def connect():
    return psycopg2.connect("", connect_timeout=5)


def migrate(connection):
    """Creates the table and its first row if they are missing."""
    with connection, connection.cursor() as cursor:
        cursor.execute(SCHEMA, (DEFAULT_GREETING,))


def greeting():
    """The greeting stored in the database."""
    global _schema_ready
    connection = connect()
    try:
        if not _schema_ready:
            migrate(connection)
            _schema_ready = True
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT text FROM greeting WHERE id = 1")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def set_greeting(text):
    """Stores a new greeting (creating the table first if needed)."""
    connection = connect()
    try:
        migrate(connection)
        with connection, connection.cursor() as cursor:
            cursor.execute("UPDATE greeting SET text = %s WHERE id = 1", (text,))
    finally:
        connection.close()

"""Audit entries are append-only in the database itself: any UPDATE or DELETE of a row is refused,
whatever code (ORM, raw SQL, a shell) sends it.

PostgreSQL: a BEFORE UPDATE OR DELETE row trigger. TRUNCATE fires no row trigger, so the test
suite's flush (and a deliberate operator wipe) still works.
SQLite: BEFORE UPDATE and BEFORE DELETE triggers.

The one way around is ``telehealth.audit.services.purge_entries`` (demo data about fake people):
inside its transaction it sets ``telehealth.audit_purge`` (PostgreSQL, ``SET LOCAL``) or a row in
``audit_purge_allowed`` (SQLite, uncommitted, so invisible to other connections), which lets
DELETE, never UPDATE, through. The guard stops bugs and casual edits; against someone who can run
arbitrary SQL as the application's role, give that role no UPDATE/DELETE/TRUNCATE privilege on the
table (see README).
"""

from django.db import migrations

MESSAGE = "audit entries are append-only"

POSTGRES_UP = [
    f"""
    CREATE OR REPLACE FUNCTION audit_auditentry_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND current_setting('telehealth.audit_purge', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION USING
            MESSAGE = '{MESSAGE}: ' || TG_OP || ' refused', ERRCODE = 'restrict_violation';
    END;
    $$;
    """,
    """
    CREATE TRIGGER audit_auditentry_append_only
    BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_auditentry_append_only();
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_auditentry_append_only ON audit_auditentry;",
    "DROP FUNCTION IF EXISTS audit_auditentry_append_only();",
]

SQLITE_UP = [
    "CREATE TABLE audit_purge_allowed (id integer PRIMARY KEY);",
    f"""
    CREATE TRIGGER audit_auditentry_no_update BEFORE UPDATE ON audit_auditentry
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END;
    """,
    f"""
    CREATE TRIGGER audit_auditentry_no_delete BEFORE DELETE ON audit_auditentry
    WHEN NOT EXISTS (SELECT 1 FROM audit_purge_allowed)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END;
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_auditentry_no_delete;",
    "DROP TRIGGER IF EXISTS audit_auditentry_no_update;",
    "DROP TABLE IF EXISTS audit_purge_allowed;",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        ),
    ]

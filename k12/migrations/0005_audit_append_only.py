"""On PostgreSQL the audit trail is append-only in the database itself: a trigger refuses UPDATE
and DELETE of audit rows, whoever asks (the app, the admin, a shell). TRUNCATE stays possible
for a deliberate, privileged wipe (and for the test runner's flush)."""

from django.db import migrations

FORWARD = [
    """CREATE OR REPLACE FUNCTION k12_audit_append_only() RETURNS trigger AS $$
       BEGIN
         RAISE EXCEPTION 'k12_auditevent is append-only (% refused)', TG_OP;
       END;
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER k12_auditevent_append_only
       BEFORE UPDATE OR DELETE ON k12_auditevent
       FOR EACH ROW EXECUTE FUNCTION k12_audit_append_only()""",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS k12_auditevent_append_only ON k12_auditevent",
    "DROP FUNCTION IF EXISTS k12_audit_append_only()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, None)  # None: no placeholders (the SQL has a literal %)

    return run


class Migration(migrations.Migration):
    dependencies = [("k12", "0004_safeguarding")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]

"""On PostgreSQL, the database itself refuses overlapping scheduled sessions for one tutor or
one student (an exclusion constraint over a time range). The service's row locks make the 409
deterministic; this makes a bypass of the service impossible. SQLite serialises writers
(BEGIN IMMEDIATE) and relies on the service."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE k12_booking ADD CONSTRAINT booking_no_overlap_tutor
       EXCLUDE USING gist (tutor_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (status = 'scheduled')""",
    """ALTER TABLE k12_booking ADD CONSTRAINT booking_no_overlap_student
       EXCLUDE USING gist (student_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (status = 'scheduled')""",
]
BACKWARD = [
    "ALTER TABLE k12_booking DROP CONSTRAINT IF EXISTS booking_no_overlap_student",
    "ALTER TABLE k12_booking DROP CONSTRAINT IF EXISTS booking_no_overlap_tutor",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("k12", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]

"""The restore drill of issue 16 (item 5), in the suite on the demo's small database: a hot base backup
and the archived WAL restore the database to a point in time, where the ledger is consistent and what
came after that time is absent (scripts/restore-drill prints each invariant); there `portail ledger check`
finds a family's total changed by hand and `portail ledger rebuild` writes it again from the documents."""
import re

from conftest import ROOT, run_group


def test_a_base_backup_and_the_archive_restore_a_point_in_time_consistently():
    drill = run_group([str(ROOT / "scripts" / "restore-drill"), str(ROOT / ".build" / "debug" / "portail")],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
    print(drill.stdout)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "The restore drill passed" in drill.stdout
    invariants = [line for line in drill.stdout.splitlines() if line.startswith("   ") and line.rstrip().endswith(" 0")]
    assert len(invariants) == 9, drill.stdout

    # Step 6: the ledger command, consistent, then one family's total changed by hand, rebuilt, consistent.
    step = drill.stdout.split("== 6.", 1)[1]
    assert step.count("Every kept amount agrees with the documents.") == 2, step
    assert re.search(r"^drill family \d+, family_totals, family: kept .*paid (\d+) .*documents give .*paid (?!\1)\d+", step, re.M), step
    assert re.search(r"^drill family \d+: 1 kept row\(s\) written again from the documents$", step, re.M), step

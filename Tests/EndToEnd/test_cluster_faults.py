"""Issue 16, item 4: the reference cluster (scripts/cluster: primary and replica, PgBouncer, two
instances, HAProxy) takes a rush of office bookings and a card center's bank notifications while an
instance is killed, PgBouncer restarts and the primary fails over to the replica; the bank's retries are
applied once; the invariants queried afterwards on the new primary are all 0
(scripts/cluster-faults prints them)."""
import re

from conftest import ROOT, run_group


def test_a_rush_survives_a_killed_instance_a_pgbouncer_restart_and_a_failover():
    run = run_group([str(ROOT / "scripts" / "cluster-faults"), "200"], capture_output=True, text=True, timeout=900, cwd=ROOT,
                         env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "PORTAIL_BIN": str(ROOT / ".build" / "debug" / "portail")})
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    invariants = [line for line in run.stdout.splitlines() if re.match(r"^   [a-z].*\s{2,}\d+$", line)]
    assert len(invariants) == 11 and all(line.endswith(" 0") for line in invariants), run.stdout
    assert "The fault test passed." in run.stdout


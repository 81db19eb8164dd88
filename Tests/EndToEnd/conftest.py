"""End-to-end journeys: the real `portail demo` server, its embedded PostgreSQL and simulated bank,
driven by Debian's Chromium through Playwright. Screenshots of every step go to
test-results/screenshots/<journey>/."""
import datetime
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from zoneinfo import ZoneInfo

import pytest
import yaml
from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-results" / "screenshots"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def centers_for_today(folder):
    """Opio and Valbonne as shipped, with Opio's periods replaced by one that opens now, so that the
    journeys pass whatever the date: every weekday from 10 to 30 days ahead, for 3-11 year olds."""
    opio = yaml.safe_load((ROOT / "centers" / "opio.yaml").read_text())
    today = datetime.date.today()
    opio["age_groups"].append({"code": "tous", "label": "3-11 ans", "min_age": 3, "max_age": 11})
    opio["periods"] = [period_ahead(
        today, code="vacances-e2e", label="Vacances de test 3-11 ans", age_group="tous",
        units=["journee", "matin", "repas", "apres-midi"], places={"matin": 30, "repas": 30, "apres-midi": 30}, tariff="journee-2026",
        booking={"deadline": {"days_before": 2, "at": "12:00"}, "cancellation": {"days_before": 7, "at": "12:00"}})]
    (folder / "opio.yaml").write_text(yaml.safe_dump(opio, allow_unicode=True, sort_keys=False))
    shutil.copy(ROOT / "centers" / "valbonne.yaml", folder / "valbonne.yaml")
    return waiting_room_center(folder, today)


def period_ahead(today, **fields):
    """A period of a center file, every day from 10 to 30 days ahead, with `fields` (code, units, booking …)."""
    return {**fields, "starts_on": (today + datetime.timedelta(days=10)).isoformat(),
            "ends_on": (today + datetime.timedelta(days=30)).isoformat()}


def waiting_room_center(folder, today):
    """A center of its own for the waiting room's journey (`attente`, Roquefort's file under another code): a
    period that opened at the last whole minute, behind a waiting room that lets in 60 families a minute (the
    room stands for an hour after the opening). Returns the opening (seconds since the epoch)."""
    center = yaml.safe_load((ROOT / "centers" / "roquefort.yaml").read_text())
    center.update(code="attente", name="Accueil de test de la salle d'attente", hosts=["portailfamilles-attente.example.org"],
                  invoice_prefix="ATT", waiting_room={"admitted_per_minute": 60})
    center["coordinates"]["portal_url"] = "https://portailfamilles-attente.example.org"
    opening = datetime.datetime.now(ZoneInfo("Europe/Paris")).replace(second=0, microsecond=0)
    center["periods"] = [period_ahead(
        today, code="ouverture-e2e", label="Vacances de la salle d'attente", age_group="enfants",
        units=["journee"], places={"journee": 20}, tariff="fratrie-2026", booking={"opens_at": opening.strftime("%Y-%m-%dT%H:%M")})]
    (folder / "attente.yaml").write_text(yaml.safe_dump(center, allow_unicode=True, sort_keys=False))
    return opening.timestamp()


@pytest.fixture(scope="session")
def server():
    """The demo server of the journeys."""
    yield from start_server()


@pytest.fixture(scope="session")
def fuzz_server():
    """A server of its own for the fuzz run, which suspends centers and posts center files at random."""
    yield from start_server()


def start_server():
    work = pathlib.Path(tempfile.mkdtemp(prefix="portail-e2e-"))
    centers = work / "centers"
    centers.mkdir()
    opening = centers_for_today(centers)
    port = free_port()
    env = dict(os.environ, PORTAIL_DATA_DIR=str(work / "data"), PORTAIL_CENTERS_DIR=str(centers), LOG_LEVEL="warning")
    log = open(work / "server.log", "w")
    process = subprocess.Popen([str(ROOT / ".build" / "debug" / "portail"), "demo", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError("portail demo did not start:\n" + (work / "server.log").read_text())
        time.sleep(0.5)
    yield {"base": base, "data": work / "data", "waiting_room_opening": opening}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield chromium
        chromium.close()


def psql_command(server, sql, *options):
    """The psql command that runs SQL in the demo's embedded database, as its owner."""
    command = ["psql", "-X", "-q", *options, "-h", str(server["data"] / "run"), "-U", "postgres", "-d", "portail", "-c", sql]
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + command


def psql(server, sql):
    """Runs SQL in the demo's embedded database (to let time pass for a cart)."""
    subprocess.run(psql_command(server, sql), check=True, cwd="/")


def psql_value(server, sql, application="e2e"):
    """The first value that SQL returns in the demo's database ("" if none); `application` names the session."""
    answer = subprocess.run(psql_command(server, sql, "-A", "-t"), capture_output=True, text=True, check=True, cwd="/",
                            env=dict(os.environ, PGAPPNAME=application))
    return answer.stdout.strip().splitlines()[0] if answer.stdout.strip() else ""


def run_group(command, timeout, **options):
    """Runs a rehearsal script in a process group of its own: on a timeout, the servers it started go too."""
    options.pop("capture_output", None)
    options.pop("text", None)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **options)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

import os
import re
import subprocess
import tempfile
import threading
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from conftest import SHOTS, psql, psql_command, psql_value

PASSWORD = "portail-demo-2026"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
axe = Axe()


class Journey:
    """A parent's browser: each step is screenshotted and checked for serious accessibility problems."""

    def __init__(self, browser, server, name, viewport):
        self.context = browser.new_context(viewport=viewport, locale="fr-FR")
        self.page = self.context.new_page()
        self.base = server["base"]
        self.name = name
        self.step_number = 0
        (SHOTS / name).mkdir(parents=True, exist_ok=True)

    def step(self, label):
        self.step_number += 1
        self.page.screenshot(path=str(SHOTS / self.name / f"{self.step_number:02d}-{label}.png"), full_page=True)
        assert self.page.locator("html").get_attribute("lang") == "fr"
        results = axe.run(self.page)
        serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, f"{label}: " + "; ".join(f"{v['id']}: {v['help']}" for v in serious)

    def go(self, path):
        self.page.goto(self.base + path)

    def login(self, center, email):
        self.go(f"/{center}/")
        self.step("accueil")
        self.page.get_by_label("Identifiant (adresse e-mail)").fill(email)
        self.page.get_by_label("Mot de passe").fill(PASSWORD)
        self.page.get_by_role("button", name="Se connecter").click()
        expect(self.page.get_by_role("heading", name=re.compile("Mon compte famille"))).to_be_visible()
        self.step("compte")

    def book(self, child, days, keyboard=False):
        """Books `days` (indexes of rows) of journée for `child`, up to the cart."""
        self.page.get_by_role("link", name="effectuer une réservation").first.click() if "reservations/nouvelle" not in self.page.url else None
        if self.page.get_by_text("Sélectionnez l'enfant").count():
            self.page.get_by_label(re.compile(child)).check()
            self.step(f"enfant-{child.lower()}")
            self.page.get_by_role("button", name="continuer").click()
        self.page.get_by_label(re.compile("Vacances de test")).check()
        self.step(f"periode-{child.lower()}")
        self.page.get_by_role("button", name="continuer").click()
        boxes = self.page.locator("input[type=checkbox][value$=':journee']:not([disabled])")
        for index in days:
            box = boxes.nth(index)
            if keyboard:
                box.focus()
                self.page.keyboard.press("Space")
            else:
                box.check()
            expect(box).to_be_checked()
        # The running count and estimate stay in view (the script of the page).
        expect(self.page.locator("#grille-total")).to_contain_text(re.compile(r"\d+ jours? cochés? – environ"))
        self.step(f"grille-{child.lower()}")
        self.page.get_by_role("button", name="valider").click()
        expect(self.page.get_by_role("heading", name=re.compile("Récapitulatif"))).to_be_visible()
        self.step(f"recapitulatif-{child.lower()}")
        self.page.get_by_role("button", name="confirmer la réservation").click()
        expect(self.page.get_by_role("heading", name="Mon panier")).to_be_visible()
        expect(self.page.locator("#panier-reste")).to_contain_text(re.compile(r"Temps restant : \d+ min \d\d s"))
        assert no_sideways_scroll(self.page)
        self.step(f"panier-{child.lower()}")

    def pay(self, choice="Payer"):
        self.page.get_by_role("button", name="Accéder au paiement").click()
        expect(self.page.get_by_role("heading", name=re.compile("Paiement de"))).to_be_visible()
        self.step("banque")
        self.page.get_by_role("button", name=choice, exact=True).click()
        expect(self.page.get_by_role("heading", name=re.compile("Paiement (accepté|refusé|non effectué)"))).to_be_visible(timeout=15000)
        self.step("retour-banque")

    def pdf_text(self, path):
        response = self.context.request.get(self.base + path)
        assert response.ok and response.headers["content-type"] == "application/pdf"
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(response.body())
            f.flush()
            return subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True, check=True).stdout

    def close(self):
        self.context.close()


@pytest.mark.parametrize("device,viewport", [("ordinateur", DESKTOP), ("telephone", PHONE)])
def test_two_children_booked_paid_and_invoiced(browser, server, device, viewport):
    email = "famille.martin@example.org" if device == "ordinateur" else "famille.bernard@example.org"
    j = Journey(browser, server, f"reservation-paiement-{device}", viewport)
    page = j.page
    j.login("opio", email)
    children = ["JULES", "LÉA"] if device == "ordinateur" else ["INÈS"]
    for index, child in enumerate(children):
        if index > 0:
            page.get_by_role("link", name="Nouvelle réservation").click()
        else:
            page.get_by_role("link", name="effectuer une réservation").click()
        j.book(child, days=[0, 1] if index == 0 else [2], keyboard=index == 0)
    for child in children:
        expect(page.locator("table.cart")).to_contain_text(child)
    total = "42,00 €" if device == "ordinateur" else "28,00 €"
    expect(page.locator("table.cart tfoot")).to_contain_text(total)
    expect(page.get_by_text(re.compile(r"afin de valider votre réservation avant \d\d:\d\d"))).to_be_visible()
    j.pay()
    expect(page.get_by_text("vos réservations sont confirmées")).to_be_visible()
    j.go("/opio/compte")
    expect(page.locator("table.reservations")).to_contain_text("confirmée")
    assert "en attente de paiement" not in page.locator("table.reservations").inner_text()
    j.step("reservations-confirmees")
    page.get_by_role("link", name="Voir mes factures et paiements").click()
    expect(page.get_by_role("heading", name=re.compile("Mes Factures & Paiements - ALSH D'OPIO"))).to_be_visible()
    assert re.search(r"Total restant dû :\s*0,00\s€", page.locator("dl.totals").inner_text())
    j.step("factures")
    invoice_link = page.get_by_role("link", name=re.compile("Voir la facture OPI"))
    number = re.search(r"OPI\d{5}", invoice_link.first.get_attribute("aria-label")).group(0)
    invoice_link.first.click()
    expect(page.get_by_role("heading", name=f"Facture n° {number}")).to_be_visible()
    j.step("facture")
    text = j.pdf_text(f"/opio/factures/{number}.pdf")
    assert number in text and "ifac Opio" in text and total in text
    for child in children:
        assert child in text
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name="Connexion à votre espace")).to_be_visible()
    j.step("deconnexion")
    j.close()


def test_a_refused_payment_then_a_successful_retry(browser, server):
    j = Journey(browser, server, "paiement-refuse-puis-accepte", DESKTOP)
    j.login("opio", "famille.martin@example.org")
    j.page.get_by_role("link", name="effectuer une réservation").click()
    j.book("JULES", days=[3])
    j.pay("Refuser")
    expect(j.page.get_by_text("Aucun montant n'a été débité")).to_be_visible()
    j.page.get_by_role("link", name="Retour au panier").click()
    j.step("panier-apres-refus")
    j.pay("Payer")
    expect(j.page.get_by_text("vos réservations sont confirmées")).to_be_visible()
    j.close()


def test_an_unpaid_cart_expires_and_gives_its_places_back(browser, server):
    j = Journey(browser, server, "panier-expire", DESKTOP)
    j.login("opio", "famille.martin@example.org")
    j.page.get_by_role("link", name="effectuer une réservation").click()
    j.book("LÉA", days=[4])
    # The hold runs out (as if the center's 30 minutes had passed).
    psql(server, "UPDATE carts SET expires_at = now() - interval '1 second' WHERE state = 'open'")
    j.go("/opio/compte")
    expect(j.page.locator("table.reservations")).to_contain_text("expirée")
    j.step("reservation-expiree")
    j.go("/opio/panier")
    expect(j.page.get_by_text("Votre panier est vide.")).to_be_visible()
    j.step("panier-vide")
    # The places are back: the day can be ticked again.
    j.page.get_by_role("link", name="Nouvelle réservation").click()
    j.page.get_by_label(re.compile("LÉA")).check()
    j.page.get_by_role("button", name="continuer").click()
    j.page.get_by_label(re.compile("Vacances de test")).check()
    j.page.get_by_role("button", name="continuer").click()
    box = j.page.locator("input[type=checkbox][value$=':journee']").nth(4)
    expect(box).to_be_enabled()
    expect(box).not_to_be_checked()
    j.step("places-rendues")
    j.close()


def test_another_centers_pages_show_nothing_of_this_family(browser, server):
    j = Journey(browser, server, "autre-centre", DESKTOP)
    j.login("opio", "famille.bernard@example.org")
    j.go("/valbonne/compte")
    expect(j.page.get_by_role("heading", name="Connexion à votre espace")).to_be_visible()
    body = j.page.inner_text("body")
    assert "BERNARD" not in body and "INÈS" not in body
    j.step("valbonne-non-connecte")
    j.go("/valbonne/reservations/00001")
    assert "BERNARD" not in j.page.inner_text("body")
    j.go("/valbonne/factures/OPI00001")
    assert "OPI00001" not in j.page.inner_text("body")
    j.step("valbonne-facture-opio")
    j.close()


def no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [360, 390])
def test_a_full_day_takes_a_place_on_its_waiting_list(browser, server, width):
    j = Journey(browser, server, f"liste-attente-{width}", {"width": width, "height": 800})
    page = j.page
    j.login("opio", "famille.bernard@example.org")
    page.get_by_role("link", name="effectuer une réservation").click()
    page.get_by_label(re.compile("Vacances de test")).check()
    page.get_by_role("button", name="continuer").click()
    # The ninth day fills up (as if other families had taken every place).
    day = page.locator("input[type=checkbox][value$=':journee']").nth(8).get_attribute("value").split(":")[0]
    psql(server, f"UPDATE day_capacities SET places = taken WHERE day = '{day}'")
    # Places changed outside the portal (as through another instance) show on the grids within a second
    # (PlacesLeftCache); the parent's own changes show at once.
    time.sleep(1.2)
    page.reload()
    cell = page.locator(f"td:has(input[value='{day}:journee'])")
    expect(cell).to_contain_text("complet")
    assert no_sideways_scroll(page)
    j.step("jour-complet")
    cell.get_by_role("button", name=re.compile("Liste d'attente")).click()
    expect(page.get_by_text(re.compile("INÈS est inscrit\\(e\\) sur la liste d'attente"))).to_be_visible()
    expect(page.locator(f"td:has(input[value='{day}:journee'])")).to_contain_text("liste d'attente : 1er")
    assert no_sideways_scroll(page)
    j.step("inscrite")
    j.go("/opio/compte")
    waiting = page.locator("#attente")
    expect(waiting).to_contain_text("en liste d'attente, 1er")
    assert no_sideways_scroll(page)
    j.step("compte-liste-attente")
    waiting.get_by_role("button", name=re.compile("Retirer INÈS")).click()
    expect(page.get_by_text("Votre enfant a quitté la liste d'attente.")).to_be_visible()
    expect(page.locator("#attente")).to_have_count(0)
    psql(server, f"UPDATE day_capacities SET places = 30 WHERE day = '{day}'")
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_the_waiting_room_lets_the_family_in_by_itself_when_its_turn_comes(browser, server, width):
    """Opening day at `attente` (conftest: its period opened at the server's start, 60 families let in a minute):
    the family finds a few families before it, and the page goes on to the grid by itself at its turn."""
    center = "(SELECT id FROM centers WHERE code = 'attente')"
    psql(server, f"""
        INSERT INTO people (email, password_hash)
            SELECT 'famille.attente@example.org', coalesce(p.password_hash, f.password_hash)
            FROM people p JOIN families f ON lower(f.email) = lower(p.email) WHERE lower(p.email) = 'famille.bernard@example.org'
            LIMIT 1 ON CONFLICT DO NOTHING;
        INSERT INTO families (center_id, email, name, state)
            SELECT {center}, 'famille.attente@example.org', 'ATTENTE Lina', 'active'
            WHERE NOT EXISTS (SELECT 1 FROM families WHERE center_id = {center});
        INSERT INTO family_members (center_id, family_id, person_id, billing_contact)
            SELECT f.center_id, f.id, p.id, true FROM families f, people p
            WHERE f.center_id = {center} AND lower(p.email) = 'famille.attente@example.org'
            ON CONFLICT DO NOTHING;
        INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
            SELECT center_id, id, 'LINA', 'ATTENTE', DATE '2018-05-01' FROM families
            WHERE center_id = {center} AND NOT EXISTS (SELECT 1 FROM children WHERE center_id = {center});
    """)
    child = psql_value(server, f"SELECT id FROM children WHERE center_id = {center}")
    j = Journey(browser, server, f"salle-attente-{width}", {"width": width, "height": 800})
    page = j.page
    j.login("attente", "famille.attente@example.org")
    # Other families took the line's next places: the room lets in 10 at the opening and one a second since, so
    # this family's turn is about ten seconds away.
    opening = int(server["waiting_room_opening"])
    admitted = 10 + int(time.time() - opening)
    psql(server, f"""
        DELETE FROM waiting_room_places WHERE center_id = {center};
        INSERT INTO center_counters (center_id, name, value) VALUES ({center}, 'waiting_room:{opening}', {admitted + 9})
            ON CONFLICT (center_id, name) DO UPDATE SET value = EXCLUDED.value;
    """)
    j.go(f"/attente/reservations/nouvelle?enfant={child}&periode=ouverture-e2e")
    expect(page.get_by_role("heading", name="Salle d'attente")).to_be_visible()
    expect(page.locator("#attente-rang")).to_contain_text(re.compile("familles? avant vous"))
    assert no_sideways_scroll(page)
    j.step("salle-attente")
    # Nothing to click: the page goes on to the grid at the family's turn.
    expect(page.locator("input[type=checkbox][value$=':journee']").first).to_be_visible(timeout=30000)
    assert "/attente/reservations/nouvelle" in page.url
    assert no_sideways_scroll(page)
    j.step("grille")
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_a_confirmation_the_database_gives_up_on_says_try_again_and_records_nothing(browser, server, width):
    """Opening day: the day's row is held elsewhere and PostgreSQL cancels the confirmation waiting for it.
    The parent gets the French "try again" page (readable on a phone), nothing is recorded, and the same
    booking goes through once the row is free."""
    email, child = ("famille.martin@example.org", "JULES") if width == 360 else ("famille.bernard@example.org", "INÈS")
    j = Journey(browser, server, f"trop-de-demandes-{width}", {"width": width, "height": 800})
    page = j.page
    j.login("opio", email)
    page.get_by_role("link", name="effectuer une réservation").first.click()
    if page.get_by_text("Sélectionnez l'enfant").count():
        page.get_by_label(re.compile(child)).check()
        page.get_by_role("button", name="continuer").click()
    page.get_by_label(re.compile("Vacances de test")).check()
    page.get_by_role("button", name="continuer").click()
    boxes = page.locator("input[type=checkbox][value$=':journee']:not([disabled])")
    last = boxes.count() - 1
    day = boxes.nth(last).get_attribute("value").split(":")[0]
    boxes.nth(last).check()
    page.get_by_role("button", name="valider").click()
    expect(page.get_by_role("heading", name=re.compile("Récapitulatif"))).to_be_visible()
    taken = f"SELECT sum(taken) || ' ' || (SELECT count(*) FROM reservations) FROM day_capacities WHERE day = '{day}'"
    before = psql_value(server, taken)

    # Another transaction holds the day's row; whatever waits for it is cancelled, as a statement timeout would.
    holder = subprocess.Popen(
        psql_command(server, f"BEGIN; SELECT 1 FROM day_capacities WHERE day = '{day}' FOR UPDATE; SELECT pg_sleep(60); COMMIT;"),
        cwd="/", env=dict(os.environ, PGAPPNAME="e2e-holder"), stdout=subprocess.DEVNULL)
    cancelled = []

    def cancel_the_waiter():
        deadline = time.time() + 30
        while time.time() < deadline and not cancelled:
            if psql_value(server, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND application_name NOT LIKE 'e2e%' LIMIT 1") == "t":
                cancelled.append(True)
            time.sleep(0.1)

    try:
        for _ in range(100):
            if psql_value(server, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'e2e-holder' AND query LIKE '%pg_sleep%'") == "1":
                break
            time.sleep(0.1)
        canceller = threading.Thread(target=cancel_the_waiter)
        canceller.start()
        page.get_by_role("button", name="confirmer la réservation").click()
        expect(page.get_by_role("heading", name="Trop de demandes en même temps")).to_be_visible(timeout=30000)
        canceller.join()
    finally:
        psql_value(server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'e2e-holder'")
        holder.wait(timeout=30)
    assert cancelled
    expect(page.get_by_text("Vérifiez ce qui a été enregistré")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("trop-de-demandes")
    assert psql_value(server, taken) == before, "a cancelled confirmation took a place or wrote a reservation"

    # Mon compte first, as the page says; then the same day again, which goes through; then out of the cart.
    page.get_by_role("link", name="Voir Mon compte").click()
    expect(page.get_by_role("heading", name=re.compile("Mon compte famille"))).to_be_visible()
    j.book(child, days=[last])
    assert psql_value(server, taken) != before
    newest = max(page.locator("form[action$='/panier/retirer'] input[name=numero]").evaluate_all("inputs => inputs.map(i => i.value)"), key=int)
    page.locator(f"form[action$='/panier/retirer']:has(input[name=numero][value='{newest}'])").get_by_role("button", name="Retirer du panier").click()
    expect(page.get_by_text(re.compile("a été retirée du panier"))).to_be_visible()
    assert psql_value(server, taken).split()[0] == before.split()[0], "the places were not given back"
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_cancelling_asks_first_and_says_what_it_gives_back(browser, server, width):
    j = Journey(browser, server, f"annulation-{width}", {"width": width, "height": 800})
    page = j.page
    # A family per width: the first run's cancellation leaves a credit that would pay the second's cart.
    email, child = ("famille.martin@example.org", "LÉA") if width == 360 else ("famille.bernard@example.org", "INÈS")
    j.login("opio", email)
    j.book(child, days=[6, 7])
    j.pay()
    expect(page.get_by_text("vos réservations sont confirmées")).to_be_visible()
    invoice = page.get_by_role("link", name=re.compile("Voir la facture OPI"))
    expect(invoice).to_be_visible()
    assert no_sideways_scroll(page)
    # The newest reservation, from its page: the button asks first.
    j.go("/opio/compte")
    page.locator("table.reservations a[href*='/reservations/']").first.click()
    page.get_by_role("link", name="Annuler cette réservation").click()
    expect(page.get_by_role("heading", name=re.compile(r"Annuler la réservation n° \d{5} \?"))).to_be_visible()
    expect(page.get_by_text(re.compile("vous sera rendu sous forme d'avoir"))).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("annulation-confirmer")
    # Some days only: the page names them and the credit they give, and asks first too.
    page.locator("input[name=jour]").first.check()
    page.get_by_role("button", name="Annuler les jours cochés…").click()
    expect(page.get_by_role("heading", name=re.compile(r"Annuler ces jours de la réservation n° \d{5} \?"))).to_be_visible()
    expect(page.get_by_text(re.compile("Les autres jours restent réservés"))).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("annulation-jours-confirmer")
    page.get_by_role("link", name="Non, garder ma réservation").click()
    page.get_by_role("link", name="Annuler cette réservation").click()
    # "Non" keeps it; "Oui" cancels it and shows the credit note.
    page.get_by_role("link", name="Non, garder ma réservation").click()
    expect(page.get_by_text("confirmée").first).to_be_visible()
    page.get_by_role("link", name="Annuler cette réservation").click()
    page.get_by_role("button", name="Oui, annuler cette réservation").click()
    expect(page.get_by_role("heading", name=re.compile("Mes Factures & Paiements"))).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("annulation-faite")
    j.close()


def test_an_invoice_booked_at_the_office_is_paid_online_from_mes_factures(browser, server):
    # The team books three days for INÈS at the office, invoiced at once (any credit of the family goes first).
    from test_back_office import sign_in
    office = Journey(browser, server, "facture-accueil-equipe", {"width": 1024, "height": 768})
    sign_in(office, "equipe@opio.example.org")
    office.go("/admin/centres/opio/familles?q=BERNARD")
    office.page.get_by_role("link", name=re.compile("BERNARD")).first.click()
    office.page.get_by_role("link", name="Réserver des jours").click()
    office.page.get_by_label("Enfant").select_option(label="INÈS BERNARD")
    office.page.get_by_label("Période").select_option(label="Vacances de test 3-11 ans")
    office.page.get_by_role("button", name="Afficher les jours").click()
    boxes = office.page.locator("input[type=checkbox][value$=':journee']")
    for index in (1, 2, 3):
        boxes.nth(boxes.count() - index).check()
    office.page.get_by_role("button", name="Réserver les jours cochés").click()
    expect(office.page.get_by_text("Réservation enregistrée et confirmée")).to_be_visible()
    office.close()

    # The parent, on a 360 px phone, pays what is left from "Mes factures".
    j = Journey(browser, server, "facture-payee-en-ligne-360", {"width": 360, "height": 740})
    page = j.page
    j.login("opio", "famille.bernard@example.org")
    page.get_by_role("link", name=re.compile("Mes factures")).first.click()
    pay = page.get_by_role("button", name=re.compile(r"Payer .* pour la facture OPI\d{5}")).first
    number = re.search(r"OPI\d{5}", pay.get_attribute("aria-label")).group(0)
    assert no_sideways_scroll(page)
    j.step("factures-a-payer")
    pay.click()
    expect(page.get_by_role("heading", name=re.compile("Paiement de"))).to_be_visible()
    j.step("banque")
    page.get_by_role("button", name="Payer", exact=True).click()
    expect(page.get_by_role("heading", name="Paiement accepté")).to_be_visible(timeout=15000)
    expect(page.get_by_text(f"la facture n° {number} est réglée")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("paiement-accepte")
    page.get_by_role("link", name=f"Voir la facture {number}").click()
    expect(page.get_by_text("État : soldée")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("en ligne"))).to_have_count(0)
    assert no_sideways_scroll(page)
    j.step("facture-soldee")
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_the_grid_ticks_a_whole_week_and_keeps_the_total_in_view(browser, server, width):
    j = Journey(browser, server, f"grille-semaine-{width}", {"width": width, "height": 780})
    page = j.page
    j.login("opio", "famille.martin@example.org")
    page.get_by_role("link", name="effectuer une réservation").click()
    if page.get_by_text("Sélectionnez l'enfant").count():
        page.get_by_label(re.compile("JULES")).check()
        page.get_by_role("button", name="continuer").click()
    page.get_by_label(re.compile("Vacances de test")).check()
    page.get_by_role("button", name="continuer").click()
    expect(page.locator("#grille-total")).to_have_text("Aucun jour coché.")
    page.get_by_role("button", name="toute la semaine").first.click()
    ticked = page.locator("table.grid input[type=checkbox][value$=':journee']:checked:not([disabled])").count()
    assert ticked >= 1
    expect(page.locator("#grille-total")).to_contain_text(f"{ticked} jour" + ("s cochés" if ticked > 1 else " coché"))
    # The estimate adds up the price on the Journée column's head, once a ticked box.
    cents = int(page.locator("table.grid thead th", has_text="Journée").get_attribute("data-prix"))
    assert cents > 0
    estimate = f"{ticked * cents // 100},{ticked * cents % 100:02d}\u00a0€"
    expect(page.locator("#grille-total")).to_contain_text(f"environ {estimate}")
    assert no_sideways_scroll(page)
    j.step("grille-semaine")
    page.get_by_role("button", name=re.compile("Cocher toute la période")).click()
    assert page.locator("table.grid input[type=checkbox][value$=':journee']:checked:not([disabled])").count() >= ticked
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_the_confirmed_days_go_to_the_phones_calendar(browser, server, width):
    j = Journey(browser, server, f"agenda-{width}", {"width": width, "height": 780})
    page = j.page
    j.login("opio", "famille.martin@example.org")
    page.get_by_role("link", name="Mes jours dans l'agenda du téléphone").click()
    expect(page.get_by_role("heading", name=re.compile("agenda du téléphone"))).to_be_visible()
    page.get_by_label(re.compile("Nom du lien")).fill(f"Téléphone {width}")
    page.get_by_role("button", name="Créer le lien").click()
    expect(page.get_by_text("Votre lien est prêt.")).to_be_visible()
    address = page.locator("#lien-cree").input_value()
    assert re.search(r"/opio/calendrier/[A-Za-z0-9_-]{43}\.ics$", address)
    assert no_sideways_scroll(page)
    j.step("lien-agenda")
    # What the phone's calendar reads: no cookie needed, the address is the key.
    reader = browser.new_context()
    feed = reader.request.get(address)
    assert feed.ok and feed.headers["content-type"].startswith("text/calendar")
    assert feed.text().startswith("BEGIN:VCALENDAR\r\n") and feed.text().endswith("END:VCALENDAR\r\n")
    j.go("/opio/agenda")
    card = page.locator("ul.feeds li", has_text=f"Téléphone {width}")
    assert address not in page.content()
    assert no_sideways_scroll(page)
    card.get_by_role("button", name="Retirer ce lien").click()
    expect(page.get_by_text("Le lien est retiré")).to_be_visible()
    assert reader.request.get(address).status == 404
    reader.close()
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_a_center_that_requires_the_family_file_asks_for_it_before_the_grid(browser, server, width):
    """Valbonne requires contacts, a person allowed to pick the children up, the health form, the
    authorisations and the vaccination record: the wizard says so before the grid, the parent fills
    the file on a phone and uploads a PDF, then books."""
    # Each width starts from an empty file (the other width's run filled it).
    family = "(SELECT f.id FROM families f JOIN centers c ON c.id = f.center_id WHERE c.code = 'valbonne' AND f.email = 'famille.martin@example.org')"
    psql(server, f"""
        DELETE FROM family_file_changes WHERE family_id = {family};
        DELETE FROM family_documents WHERE family_id = {family};
        DELETE FROM child_files WHERE child_id IN (SELECT id FROM children WHERE family_id = {family});
        DELETE FROM guardians WHERE family_id = {family};
        UPDATE families SET address_lines = '{{}}', postcode = '', city = '', phone = '', file_confirmed_at = NULL WHERE id = {family};
    """)
    j = Journey(browser, server, f"dossier-{width}", {"width": width, "height": 800})
    page = j.page
    j.login("valbonne", "famille.martin@example.org")
    j.go("/valbonne/reservations/nouvelle")
    expect(page.get_by_role("heading", name="Avant de réserver, complétez votre dossier")).to_be_visible()
    expect(page.get_by_text("la fiche sanitaire de JULES")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("dossier-manquant")
    page.get_by_role("link", name="Compléter mon dossier").click()
    expect(page.get_by_role("heading", name="Mon dossier famille")).to_be_visible()
    page.get_by_label("Adresse (3 lignes au plus)").fill("12 chemin des Oliviers")
    page.get_by_label("Code postal").fill("06560")
    page.get_by_label("Commune").fill("Valbonne")
    page.locator("#telephone").fill("06 12 34 56 78")
    page.get_by_role("button", name="Enregistrer mes coordonnées").click()
    expect(page.get_by_text("Vos coordonnées sont enregistrées.")).to_be_visible()
    page.get_by_label("autorisée à venir chercher les enfants").check()
    page.get_by_label("Prénom", exact=True).fill("Marie")
    page.get_by_label("Nom", exact=True).fill("Durand")
    page.get_by_label(re.compile("Lien avec l'enfant")).fill("grand-mère")
    page.get_by_label("Téléphone de cette personne").fill("04 93 00 00 00")
    page.get_by_role("button", name="Ajouter cette personne").click()
    expect(page.get_by_text("La personne est ajoutée à votre dossier.")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("dossier")
    page.get_by_role("link", name="Remplir la fiche de JULES").click()
    page.get_by_label(re.compile("Allergies")).fill("aucune")
    page.locator("#vaccinations-oui").check()
    page.locator("#image-non").check()
    page.locator("#sorties-oui").check()
    page.locator("#retour-non").check()
    assert no_sideways_scroll(page)
    j.step("fiche-enfant")
    page.get_by_role("button", name="Enregistrer la fiche de JULES").click()
    expect(page.get_by_text("La fiche de votre enfant est enregistrée.")).to_be_visible()
    page.get_by_label("Document", exact=True).select_option("vaccinations")
    page.get_by_label(re.compile("Enfant \\(pour un carnet")).select_option(label="JULES")
    page.get_by_label(re.compile("Fichier")).set_input_files(
        files=[{"name": "carnet-jules.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}])
    page.get_by_role("button", name="Déposer le document").click()
    expect(page.get_by_text("Le document est ajouté à votre dossier.")).to_be_visible()
    expect(page.locator("#documents")).to_be_visible()
    expect(page.get_by_text("en attente de vérification")).to_be_visible()
    page.get_by_role("button", name="Je confirme que mon dossier est à jour").click()
    expect(page.get_by_text("Merci : votre dossier est confirmé à jour.")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("dossier-complet")
    j.go("/valbonne/reservations/nouvelle")
    expect(page.get_by_role("heading", name="Avant de réserver, complétez votre dossier")).to_have_count(0)
    j.step("assistant")
    j.close()


@pytest.mark.parametrize("width", [360, 390])
def test_one_login_goes_from_opio_to_valbonne_and_back(browser, server, width):
    """Issue 15, item 6: the demo's MARTIN Julie has a family at Opio and one at Valbonne under one
    login. She logs in once at Opio, goes to Valbonne's portal through "Changer de famille" (the other
    portal names the family and asks to continue), and comes back the same way; the link she used is
    worth nothing afterwards."""
    j = Journey(browser, server, f"une-connexion-{width}", {"width": width, "height": 800})
    page = j.page
    j.login("opio", "famille.martin@example.org")
    page.get_by_role("link", name="Changer de famille").click()
    expect(page.get_by_role("heading", name="Mes familles")).to_be_visible()
    expect(page.get_by_text(re.compile("Vous êtes dans le compte famille MARTIN Julie"))).to_be_visible()
    expect(page.get_by_text("famille.martin@example.org (vous) – payeur")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("mes-familles-opio")
    page.get_by_role("button", name=re.compile("Ouvrir ce compte famille")).click()
    expect(page.get_by_role("heading", name="Accéder à votre compte famille")).to_be_visible()
    assert "/valbonne/connexion/relais?jeton=" in page.url
    used = page.url
    expect(page.get_by_text("MARTIN Julie")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("relais-valbonne")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", name=re.compile("Mon compte famille – MARTIN Julie"))).to_be_visible()
    assert page.url.endswith("/valbonne/compte")
    assert no_sideways_scroll(page)
    j.step("compte-valbonne")
    page.goto(used)
    expect(page.get_by_text(re.compile("Ce lien n'est plus valable"))).to_be_visible()
    j.go("/valbonne/compte")
    page.get_by_role("link", name="Changer de famille").click()
    page.get_by_role("button", name=re.compile("Ouvrir ce compte famille")).click()
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", name=re.compile("Mon compte famille – MARTIN Julie"))).to_be_visible()
    assert page.url.endswith("/opio/compte")
    j.step("retour-opio")
    j.close()

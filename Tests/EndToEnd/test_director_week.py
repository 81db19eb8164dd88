"""A center director's week in the back office, in a real browser on a tablet (issue 14): a QF tariff
and the February holidays opened from forms, days booked at the office for LÉA MARTIN, one day's places
lowered below what is taken (refused with the numbers), a 50,00 € cheque that settles the family's open
invoice, tomorrow's register printed on one A4 page, two days of the reservation cancelled with a credit
note; then the federation's administrator onboards a center from its file. Every step is screenshotted
(test-results/screenshots/<journey>/, shown in docs/staff-guide.md) and checked with axe-core."""
import re

from playwright.sync_api import expect

from conftest import ROOT
from test_back_office import RECOVERY, pass_second_factor, sign_in
from test_journeys import Journey, no_sideways_scroll

TABLET = {"width": 1024, "height": 768}
FEDERATION_RECOVERY = []


def test_a_directors_week_at_opio(browser, server):
    j = Journey(browser, server, "semaine-direction", TABLET)
    page = j.page
    sign_in(j, "direction@opio.example.org")
    pass_second_factor(j, RECOVERY)
    expect(page.get_by_role("heading", name="Enfants attendus")).to_be_visible()

    # A tariff by QF: 10,00 € a day up to a QF of 700, 14,00 € above and without QF.
    page.get_by_role("link", name="Tarifs").click()
    page.get_by_role("link", name="Créer un tarif").click()
    page.get_by_label("Nom du tarif").fill("Tarif QF 2027")
    page.get_by_label("Modèle").select_option("qf")
    page.get_by_role("button", name="Afficher la grille de ce modèle").click()
    row = page.locator("input[name^='cle_'][value='journee']").get_attribute("name").split("_")[1]
    page.locator("input[name=g0_c0_max]").fill("700")
    page.locator(f"input[name=g0_c0_r{row}]").fill("10,00")
    page.locator("input[name=g0_c1_min]").fill("701")
    page.locator(f"input[name=g0_c1_r{row}]").fill("14,00")
    j.step("tarif-qf-formulaire")
    page.get_by_role("button", name="Vérifier les changements").click()
    expect(page.get_by_text("Ce que paieraient trois familles types pour un jour")).to_be_visible()
    j.step("tarif-qf-apercu")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Le tarif est enregistré")).to_be_visible()
    j.step("tarif-qf-enregistre")

    # The February holidays for the elementary group, with that tariff.
    page.goto(j.base + "/admin/centres/opio/periodes")
    page.get_by_role("link", name="Créer une période").click()
    page.get_by_label(re.compile("Nom de la période")).fill("Vacances d'hiver 2027 élémentaire")
    page.get_by_label("Groupe d'âge").select_option("elementaire")
    page.get_by_label("Premier jour").fill("2027-02-15")
    page.get_by_label("Dernier jour").fill("2027-02-26")
    page.locator("#formule-journee").check()
    for unit in ("matin", "repas", "apres-midi"):
        page.locator(f"input[name=places_{unit}]").fill("24")
    page.get_by_label("Tarif", exact=True).select_option(label="Tarif QF 2027")
    page.get_by_label("Ouverture (date et heure)").fill("2027-01-04T08:00")
    j.step("periode-formulaire")
    page.get_by_role("button", name="Vérifier les changements").click()
    expect(page.get_by_text(re.compile("Nouvelle période « Vacances d'hiver 2027 élémentaire » du 15/02/2027 au 26/02/2027"))).to_be_visible()
    j.step("periode-apercu")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Les changements sont enregistrés")).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("periode-enregistree")

    # Three days booked at the office for LÉA MARTIN (QF 850: 14,00 € a day).
    page.goto(j.base + "/admin/centres/opio/familles?q=MARTIN")
    page.get_by_role("link", name=re.compile("MARTIN")).first.click()
    page.get_by_role("link", name="Réserver des jours").click()
    page.get_by_label("Enfant").select_option(label="LÉA MARTIN")
    page.get_by_label("Période").select_option(label="Vacances d'hiver 2027 élémentaire")
    page.get_by_role("button", name="Afficher les jours").click()
    for day in ("2027-02-15", "2027-02-16", "2027-02-17"):
        page.locator(f"input[value='{day}:journee']").check()
    j.step("reservation-accueil")
    page.get_by_role("button", name="Réserver les jours cochés").click()
    expect(page.get_by_text("Réservation enregistrée et confirmée")).to_be_visible()
    expect(page.get_by_text("42,00")).to_be_visible()
    reservation = page.url.split("?")[0]
    j.step("reservation-confirmee")

    # One day's places below what is taken: refused with the numbers.
    page.goto(j.base + "/admin/centres/opio/periodes")
    page.get_by_role("link", name="Vacances d'hiver 2027 élémentaire", exact=True).click()
    page.locator("input[name='j_2027-02-15_matin']").fill("0")
    page.get_by_role("button", name="Vérifier les changements").click()
    expect(page.get_by_text(re.compile(r"15/02/2027 \(Matin\) : 1 place\(s\) déjà prise\(s\) pour 0 demandée\(s\)"))).to_be_visible()
    expect(page.get_by_role("heading", name="Forcer le changement")).to_be_visible()
    j.step("places-refusees")

    # A 50,00 € cheque settles the family's open invoice; the rest is its credit.
    page.goto(reservation.split("/reservations/")[0])
    page.get_by_label("Montant reçu (en euros)").fill("50,00")
    page.get_by_label("Moyen de paiement").select_option("cheque")
    page.get_by_label(re.compile("^Numéro")).fill("1234567")
    page.get_by_label("Banque (chèque)").fill("CIC")
    j.step("reglement-formulaire")
    page.get_by_role("button", name="Enregistrer le règlement").click()
    expect(page.get_by_text(re.compile("Règlement OPI-P\\d+ enregistré"))).to_be_visible()
    expect(page.locator("p", has_text="Reste dû : 0,00")).to_be_visible()
    j.step("reglement-enregistre")

    # Tomorrow's register, on one A4 page.
    page.goto(j.base + "/admin/centres/opio")
    page.get_by_role("link", name="Registre du jour").click()
    page.get_by_role("link", name="Jour suivant →").click()
    expect(page.get_by_role("heading", name=re.compile("Registre du"))).to_be_visible()
    j.step("registre-demain")
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1

    # Two days of the reservation cancelled: a credit note names them.
    page.goto(reservation)
    page.get_by_label("Annuler le mardi 16/02/2027").check()
    page.get_by_label("Annuler le mercredi 17/02/2027").check()
    page.get_by_role("button", name=re.compile("Annuler les jours cochés")).click()
    expect(page.get_by_text(re.compile("Un avoir de 28,00"))).to_be_visible()
    j.step("annulation-confirmation")
    page.get_by_role("button", name="Oui, annuler").click()
    expect(page.get_by_text(re.compile(r"Annulation enregistrée\. Avoir OPI-AV\d+ de 28,00"))).to_be_visible()
    assert no_sideways_scroll(page)
    j.step("annulation-enregistree")
    j.close()


def test_the_federation_onboards_a_center_from_its_file(browser, server):
    j = Journey(browser, server, "federation", TABLET)
    page = j.page
    sign_in(j, "federation@ifac.example.org")
    pass_second_factor(j, FEDERATION_RECOVERY)
    page.get_by_role("link", name="Administration de la fédération").click()
    expect(page.get_by_role("heading", name="Accueils de la fédération")).to_be_visible()
    j.step("federation")
    page.get_by_role("link", name="Ajouter ou mettre à jour un accueil").click()
    page.get_by_label("Choisir le fichier sur cet ordinateur").set_input_files(str(ROOT / "centers" / "roquefort.yaml"))
    expect(page.get_by_label("ou le coller ici")).to_have_value(re.compile("code: roquefort"))
    j.step("import-fichier")
    page.get_by_role("button", name="Voir ce qui change").click()
    expect(page.get_by_text(re.compile("Nouvel accueil « .+ » \\(roquefort\\)"))).to_be_visible()
    j.step("import-apercu")
    page.get_by_role("button", name="Appliquer").click()
    expect(page.get_by_text(re.compile("est enregistré : son portail répond"))).to_be_visible()
    j.step("import-applique")
    # Its parents' portal answers at once.
    page.goto(j.base + "/roquefort/")
    expect(page.get_by_label("Identifiant (adresse e-mail)")).to_be_visible()
    j.close()

"""The back office in a real browser: Opio's director signs in with her password, enrols an
authenticator app (the code computed here as the app would), keeps her recovery codes and reaches her
dashboard; a member of the team signs in with the password alone. Screenshots go to
test-results/screenshots/<journey>/ (docs/staff-guide.md shows them)."""
import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from playwright.sync_api import expect

from test_journeys import PASSWORD, Journey, no_sideways_scroll


def totp(secret, at=None):
    """RFC 6238 as every authenticator app computes it: HMAC-SHA-1, 30-second steps, 6 digits."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


RECOVERY = []


def pass_second_factor(j, recovery):
    """A manager's or federation administrator's second step: the first time, enrol an app (its code
    computed here) and keep the recovery codes in `recovery`; later, one of those codes (the app's code
    of this 30-second step may be spent already)."""
    expect(j.page.get_by_role("heading", name="Vérification en deux étapes")).to_be_visible()
    key = j.page.locator("#cle-totp")
    if key.count():
        secret = key.inner_text()
        j.step("activation-totp")
        j.page.get_by_label(re.compile("Code à 6 chiffres")).fill(totp(secret))
        j.page.get_by_role("button", name="Activer et continuer").click()
        expect(j.page.get_by_role("heading", name="Vos codes de secours")).to_be_visible()
        codes = j.page.locator("ul.recovery-codes li").all_inner_texts()
        assert len(codes) == 10
        recovery.extend(codes)
        j.step("codes-de-secours")
        j.page.get_by_role("link", name=re.compile("continuer")).click()
    else:
        expect(j.page.get_by_label(re.compile("Code à 6 chiffres"))).to_be_visible()
        j.step("code-demande")
        j.page.get_by_text("Je n'ai pas mon téléphone").click()
        j.page.get_by_label(re.compile("codes de secours")).fill(recovery.pop())
        j.page.get_by_role("button", name="Continuer avec ce code").click()


def sign_in(j, email):
    j.go("/admin/")
    expect(j.page.get_by_role("heading", name="Connexion du personnel")).to_be_visible()
    j.page.get_by_label("Adresse e-mail").fill(email)
    j.page.get_by_label("Mot de passe").fill(PASSWORD)
    j.page.get_by_role("button", name="Se connecter").click()


@pytest.mark.parametrize("viewport", [{"width": 1024, "height": 768}, {"width": 390, "height": 844}], ids=["tablette", "telephone"])
def test_the_director_signs_in_with_a_second_factor_and_sees_her_center(browser, server, viewport):
    j = Journey(browser, server, f"personnel-direction-{viewport['width']}", viewport)
    sign_in(j, "direction@opio.example.org")
    j.step("connexion")
    pass_second_factor(j, RECOVERY)
    expect(j.page.get_by_role("heading", name=re.compile("Opio"))).to_be_visible()
    expect(j.page.get_by_role("heading", name="Enfants attendus")).to_be_visible()
    expect(j.page.get_by_role("heading", name="Places restantes")).to_be_visible()
    assert no_sideways_scroll(j.page)
    j.step("tableau-de-bord")
    j.page.get_by_role("link", name="Registre du jour").click()
    expect(j.page.get_by_role("heading", name=re.compile("Registre du"))).to_be_visible()
    assert no_sideways_scroll(j.page)
    j.step("registre")
    j.page.get_by_role("button", name="Se déconnecter").click()
    expect(j.page.get_by_role("heading", name="Connexion du personnel")).to_be_visible()
    j.close()


def test_a_team_member_signs_in_with_the_password_alone(browser, server):
    j = Journey(browser, server, "personnel-equipe", {"width": 1024, "height": 768})
    sign_in(j, "equipe@opio.example.org")
    expect(j.page.get_by_role("heading", name="Enfants attendus")).to_be_visible()
    assert "votre rôle : équipe" in j.page.content()
    j.step("tableau-de-bord")
    # Another center's dashboard is not hers.
    j.go("/admin/centres/valbonne")
    expect(j.page.get_by_role("heading", name="Accueil inconnu")).to_be_visible()
    j.close()

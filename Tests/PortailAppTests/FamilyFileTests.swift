import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PortailDomain
import PortailTestSupport
import Testing
@testable import PortailApp
@testable import PortailStore

extension Browser {
    /// Posts a multipart form with the session's CSRF token, its fields and one file.
    func upload(_ uri: String, _ fields: [(String, String)], file: (field: String, filename: String, bytes: [UInt8])?,
                boundary: String = "----portail\(UInt32.random(in: 0...UInt32.max))") async throws -> Page {
        var body: [UInt8] = []
        for (name, value) in [("csrf", csrf)] + fields {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let file {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.field)\"; filename=\"\(file.filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += file.bytes + Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        var headers: HTTPFields = [.contentType: "multipart/form-data; boundary=\(boundary)"]
        if let cookie { headers[.cookie] = cookie }
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: body))
        let page = Page(status: response.status, body: String(buffer: response.body), location: response.headers[.location], headers: response.headers)
        if page.body.contains("csrf") { lastPage = page.body }
        return page
    }
}

/// Issue 15, item 4: the family file parents keep themselves, what a center requires before booking,
/// and the changes its staff validate.
@Suite struct FamilyFileTests {
    static let rules = """
        family_file:
          required: [contacts, pickup, health, authorisations, documents]
          documents: [vaccinations]
          confirm_every_days: 365
          validation: [health, documents]
        """
    static let pdf = Array("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8)

    @Test func aCenterThatRequiresTheFileRefusesTheBookingUntilItIsDone() async throws {
        try await withPortal(petitExtra: Self.rules) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let gaps = try await parent.get("/petit/reservations/nouvelle")
            #expect(gaps.status == .ok)
            #expect(gaps.text.contains("Avant de réserver, complétez votre dossier"))
            for missing in ["vos coordonnées (adresse et téléphone)", "au moins une personne autorisée à venir chercher les enfants",
                            "la fiche sanitaire de JULES", "les autorisations de JULES", "le document « carnet de vaccination de JULES »",
                            "la confirmation que votre dossier est à jour"] {
                #expect(gaps.text.contains(missing), "\(missing)")
            }
            #expect(!gaps.body.contains("name=\"jour\""), "no grid before the file is complete")
            let childID = try #require(try await count(fixture, "SELECT id::int FROM children WHERE first_name = 'JULES' AND center_id = \(fixture.petit.id)"))
            let d = fixture.petit.center.periods[0].startsOn
            let selection = [("enfant", String(childID)), ("periode", "vacances"), ("jour", "\(d.iso):journee")]
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.post("/petit/reservations/confirmer", selection).status == .conflict)
            #expect(try await count(fixture, "SELECT count(*)::int FROM reservations") == 0)

            // Contacts: a wrong postcode is said, and what was typed stays.
            let wrong = try await parent.post("/petit/dossier/coordonnees", [("adresse", "12 rue des Lilas"), ("code_postal", "6650"),
                                                                              ("commune", "Opio"), ("telephone", "06 12 34 56 78")])
            #expect(wrong.status == .unprocessableContent)
            #expect(wrong.text.contains("Le code postal s'écrit en 5 chiffres") && wrong.body.contains("12 rue des Lilas"))
            #expect(try await parent.post("/petit/dossier/coordonnees", [("adresse", "12 rue des Lilas\nBât. B"), ("code_postal", "06650"),
                                                                         ("commune", "Opio"), ("telephone", "06 12 34 56 78")]).status == .seeOther)
            // A person allowed to pick the children up.
            let noPhone = try await parent.post("/petit/dossier/personnes", [("type", "autorise"), ("prenom", "Marie"), ("nom", "Durand"), ("lien", "grand-mère")])
            #expect(noPhone.status == .unprocessableContent && noPhone.text.contains("Indiquez un numéro de téléphone"))
            #expect(try await parent.post("/petit/dossier/personnes", [("type", "autorise"), ("prenom", "Marie"), ("nom", "Durand"), ("lien", "grand-mère"),
                                                                       ("telephone", "04 93 00 00 00")]).status == .seeOther)
            // The health form and the authorisations.
            let form = try await parent.get("/petit/dossier/enfants/\(childID)")
            #expect(form.status == .ok && form.text.contains("Fiche de JULES"))
            let vague = try await parent.post("/petit/dossier/enfants/\(childID)", [("pai", "oui"), ("allergies", "arachide")])
            #expect(vague.status == .unprocessableContent && vague.text.contains("Précisez le PAI") && vague.body.contains("arachide"))
            #expect(vague.text.contains("Dites si les vaccinations obligatoires sont à jour"))
            #expect(try await parent.post("/petit/dossier/enfants/\(childID)", [
                ("medecin", "Dr Martin"), ("allergies", "arachide : stylo d'adrénaline dans le sac"), ("pai", "oui"), ("pai_precisions", "allergie alimentaire"),
                ("vaccinations", "oui"), ("image", "non"), ("sorties", "oui"), ("retour_seul", "non"),
            ]).status == .seeOther)
            // The document: a text file is not taken, a PDF is.
            _ = try await parent.get("/petit/dossier")
            let text = try await parent.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                               file: ("fichier", "carnet.txt", Array("bonjour".utf8)))
            #expect(text.status == .unprocessableContent && text.text.contains("ni un PDF"))
            // While the family's upload arrives, its second one waits its turn (429); while the instance reads
            // as many as it allows, anyone's does (503); nothing is read either way.
            let family = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            var arriving: ConcurrencyGate<String>.Slot? = try SessionMiddleware.uploads.enter("\(fixture.petit.id):\(family)").get()
            let second = try await parent.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                                 file: ("fichier", "carnet.pdf", Self.pdf))
            #expect(second.status == .tooManyRequests && second.text.contains("Envoi déjà en cours"))
            arriving = nil
            let others = try (1...SessionMiddleware.uploads.limit).map { try SessionMiddleware.uploads.enter("\(fixture.autre.id):\(-$0)").get() }
            let crowded = try await parent.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                                  file: ("fichier", "carnet.pdf", Self.pdf))
            #expect(crowded.status == .serviceUnavailable && crowded.text.contains("Beaucoup de documents arrivent"))
            others.forEach { $0.leave() }
            #expect(arriving == nil && SessionMiddleware.uploads.count() == 0)
            let stored = try await parent.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                                 file: ("fichier", "C:\\Mes documents\\carnet \"JULES\".pdf", Self.pdf))
            #expect(stored.status == .seeOther)
            let file = try await parent.get("/petit/dossier")
            #expect(file.text.contains("Carnet de vaccination de JULES – en attente de vérification"))
            #expect(file.text.contains("carnet JULES.pdf"))
            #expect(file.text.contains("2 changements attendent la vérification de l'équipe."))
            let documentID = try #require(file.body.firstMatch(of: /\/petit\/dossier\/documents\/(\d+)"/)?.1)
            let download = try await client.execute(uri: "/petit/dossier/documents/\(documentID)", method: .get, headers: [.cookie: parent.cookie!])
            #expect(download.status == .ok && download.headers[.contentType] == "application/pdf")
            #expect(Array(download.body.readableBytesView) == Self.pdf)
            #expect(download.headers[.contentDisposition]?.hasPrefix("attachment") == true)

            // Only the confirmation is left; then the grid opens.
            let left = try await parent.get("/petit/reservations/nouvelle")
            #expect(left.text.contains("la confirmation que votre dossier est à jour") && !left.text.contains("fiche sanitaire"))
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.post("/petit/dossier/confirmer", []).status == .seeOther)
            let grid = try await parent.get("/petit/reservations/nouvelle?enfant=\(childID)&periode=vacances")
            #expect(grid.body.contains("name=\"jour\""))
            _ = try await parent.post("/petit/reservations/recapitulatif", selection)
            #expect(try await parent.post("/petit/reservations/confirmer", selection).status == .seeOther)

            // The staff's queue holds the validated items only (health, documents); the audit log names
            // what changed, never the health details.
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_file_changes WHERE decision IS NULL") == 2)
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_file_changes WHERE item IN ('health', 'documents')") == 2)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE action LIKE 'family_file.%'") >= 5)
            #expect(try await count(fixture, "SELECT count(*)::int FROM audit_log WHERE after::text LIKE '%arachide%' OR after::text LIKE '%adrénaline%'") == 0)

            // Neighbours and other centers see none of it.
            let personID = try #require(file.body.firstMatch(of: /name="personne" value="(\d+)"/)?.1)
            let neighbour = Browser(client)
            _ = try await neighbour.login("/petit", email: "voisin@example.org", password: PortalFixture.password)
            #expect(try await neighbour.get("/petit/dossier/enfants/\(childID)").status == .notFound)
            #expect(try await client.execute(uri: "/petit/dossier/documents/\(documentID)", method: .get, headers: [.cookie: neighbour.cookie!]).status == .notFound)
            let theirs = try await neighbour.get("/petit/dossier")
            #expect(!theirs.text.contains("Durand") && !theirs.text.contains("carnet JULES.pdf"))
            #expect(try await neighbour.post("/petit/dossier/personnes/retirer", [("personne", String(personID))]).status == .notFound)
            #expect(try await neighbour.post("/petit/dossier/enfants/\(childID)", [("image", "oui")]).status == .notFound)
            #expect(try await neighbour.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                               file: ("fichier", "x.pdf", Self.pdf)).status == .notFound)
            #expect(try await neighbour.post("/petit/dossier/documents/retirer", [("document", String(documentID))]).status == .notFound)
            let elsewhere = try await client.execute(uri: "/autre/dossier/documents/\(documentID)", method: .get, headers: [.cookie: parent.cookie!])
            #expect(elsewhere.status != .ok && !String(buffer: elsewhere.body).contains("%PDF"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM guardians") == 1)
        }
    }

    @Test func uploadsAreBoundedAndOnlyWhereAFileIsAsked() async throws {
        try await withPortal(petitExtra: Self.rules) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/dossier")
            // Above 5 MB: said; above 8 MB: refused before it is read.
            let big = try await parent.upload("/petit/dossier/documents", [("type", "insurance")], file: ("fichier", "a.pdf", Self.pdf + [UInt8](repeating: 0x20, count: 6 * 1_048_576)))
            #expect(big.status == .unprocessableContent && big.text.contains("5 Mo au plus"), "\(big.status) \(big.text.suffix(300))")
            _ = try await parent.get("/petit/dossier")
            let huge = try await parent.upload("/petit/dossier/documents", [("type", "insurance")], file: ("fichier", "a.pdf", Self.pdf + [UInt8](repeating: 0x20, count: 9 * 1_048_576)))
            #expect(huge.status == .contentTooLarge)
            // No file, an unknown type, a vaccination record without its child.
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.upload("/petit/dossier/documents", [("type", "insurance")], file: nil).text.contains("Choisissez un fichier"))
            #expect(try await parent.upload("/petit/dossier/documents", [("type", "passeport")], file: ("fichier", "a.pdf", Self.pdf)).text.contains("type de document"))
            #expect(try await parent.upload("/petit/dossier/documents", [("type", "vaccinations")], file: ("fichier", "a.pdf", Self.pdf)).text.contains("l'enfant"))
            // Without the session's token: refused like any form.
            let forged = Browser(client)
            forged.cookie = parent.cookie
            #expect(try await forged.upload("/petit/dossier/documents", [("type", "insurance")], file: ("fichier", "a.pdf", Self.pdf)).status == .forbidden)
            // A multipart body where no file is asked, or a malformed one.
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.upload("/petit/dossier/coordonnees", [("commune", "Opio")], file: nil).status == .unsupportedMediaType)
            var headers: HTTPFields = [.contentType: "multipart/form-data; boundary=abc", .cookie: parent.cookie!]
            #expect(try await client.execute(uri: "/petit/dossier/documents", method: .post, headers: headers,
                                             body: ByteBuffer(string: "--abc\r\nno headers end")).status == .badRequest)
            headers[.contentType] = "multipart/form-data"
            #expect(try await client.execute(uri: "/petit/dossier/documents", method: .post, headers: headers, body: ByteBuffer(string: "x")).status == .badRequest)
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_documents") == 0)
            // An insurance certificate as a PNG is taken, and said as such.
            _ = try await parent.get("/petit/dossier")
            let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 1, count: 100)
            #expect(try await parent.upload("/petit/dossier/documents", [("type", "insurance")], file: ("fichier", "assurance.png", png)).status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_documents WHERE content_type = 'image/png' AND state = 'pending'") == 1)
        }
    }

    /// The staff's queue: listed through the API and the back office, accepted or refused with a note
    /// (e-mailed to the family); a refused document is missing again; another center's staff see nothing.
    @Test func theStaffValidateTheChangesTheCenterMarks() async throws {
        try await withPortal(petitExtra: Self.rules) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            let childID = try await count(fixture, "SELECT id::int FROM children WHERE first_name = 'JULES' AND center_id = \(fixture.petit.id)")
            let family = try await count(fixture, "SELECT id::int FROM families WHERE email = 'parent@example.org' AND center_id = \(fixture.petit.id)")
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.post("/petit/dossier/enfants/\(childID)", [("allergies", "arachide"), ("vaccinations", "oui"), ("image", "oui"), ("sorties", "oui"),
                                                                                 ("retour_seul", "non")]).status == .seeOther)
            _ = try await parent.get("/petit/dossier")
            #expect(try await parent.upload("/petit/dossier/documents", [("type", "vaccinations"), ("enfant", String(childID))],
                                            file: ("fichier", "carnet.pdf", Self.pdf)).status == .seeOther)

            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "animation@petit.example.org", role: "staff", by: admin)
            let elsewhere = try await invitedToken(client, fixture, center: "autre", email: "direction@autre.example.org", role: "manager", by: admin)
            let queue = try await apiJSON(client, .get, "/api/centers/petit/family-file/changes", token: staff)
            #expect(queue.status == .ok && queue.json["total"] as? Int == 2)
            let changes = try #require(queue.json["changes"] as? [[String: Any]])
            #expect(changes.map { $0["item"] as? String } == ["health", "documents"])
            #expect(changes[0]["summary"] as? String == "Fiche sanitaire de JULES remplie" && changes[0]["child"] as? String == "JULES")
            let documentChange = try #require(changes[1]["id"] as? Int), healthChange = try #require(changes[0]["id"] as? Int)
            let documentID = try #require(changes[1]["document_id"] as? Int)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/family-file/changes", token: staff).status == .notFound)
            #expect(try await apiJSON(client, .post, "/api/centers/autre/family-file/changes/\(documentChange)", token: elsewhere,
                                      json: #"{"decision": "accepted"}"#).status == .notFound)

            // The family's file and its document, for the staff of the center only.
            let file = try await apiJSON(client, .get, "/api/centers/petit/families/\(family)/file", token: staff)
            #expect(file.status == .ok && file.json["pending_changes"] as? Int == 2)
            #expect(((file.json["children"] as? [[String: Any]])?.first?["allergies"] as? String) == "arachide")
            #expect((file.json["missing"] as? [String])?.contains("vos coordonnées (adresse et téléphone)") == true)
            let document = try await client.execute(uri: "/api/centers/petit/families/\(family)/documents/\(documentID)", method: .get,
                                                    headers: [.authorization: "Bearer \(staff)"])
            #expect(document.status == .ok && Array(document.body.readableBytesView) == Self.pdf)
            #expect(try await apiJSON(client, .get, "/api/centers/autre/families/\(family)/file", token: elsewhere).status == .notFound)

            // A refusal says why; it reaches the family by e-mail and the document is missing again.
            #expect(try await apiJSON(client, .post, "/api/centers/petit/family-file/changes/\(documentChange)", token: staff,
                                      json: #"{"decision": "refused"}"#).status == .unprocessableContent)
            let refused = try await apiJSON(client, .post, "/api/centers/petit/family-file/changes/\(documentChange)", token: staff,
                                            json: #"{"decision": "refused", "note": "Page des vaccins illisible : reprenez la photo."}"#)
            #expect(refused.status == .ok && refused.json["decision"] as? String == "refused")
            #expect(try await apiJSON(client, .post, "/api/centers/petit/family-file/changes/\(documentChange)", token: staff,
                                      json: #"{"decision": "accepted"}"#).status == .conflict)
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_documents WHERE state = 'refused'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'parent@example.org' AND body_text LIKE '%illisible%'") == 1)
            let page = try await parent.get("/petit/dossier")
            #expect(page.text.contains("refusé : déposez-en un autre"))
            #expect(page.text.contains("le document « carnet de vaccination de JULES »"))

            // The back office: the queue, a decision, the family's file and document.
            let office = BackOfficeSignInTests()
            let manager = try await office.signedInManager(client, fixture)
            let screen = try await manager.get("/admin/centres/petit/dossiers")
            #expect(screen.status == .ok && screen.text.contains("Fiche sanitaire de JULES remplie") && screen.text.contains("illisible"))
            #expect(try await manager.post("/admin/centres/petit/dossiers/\(healthChange)", [("decision", "refused")]).status == .unprocessableContent)
            let accepted = try await manager.post("/admin/centres/petit/dossiers/\(healthChange)", [("decision", "accepted")])
            #expect(accepted.status == .seeOther)
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_file_changes WHERE decision IS NULL") == 0)
            let familyFile = try await manager.get("/admin/centres/petit/familles/\(family)/dossier")
            #expect(familyFile.status == .ok && familyFile.text.contains("arachide") && familyFile.text.contains("Droit à l'image oui"))
            #expect(try await manager.get("/admin/centres/petit/familles/\(family)/documents/\(documentID)").status == .ok)
            #expect(try await manager.get("/admin/centres/autre/dossiers").status == .notFound)
        }
    }

    @Test func multipartBodiesAreReadStrictly() {
        let good = Array("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nun\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.pdf\"\r\n\r\n%PDF\r\n--b--\r\n".utf8)
        let parts = MultipartForm.parse(good, boundary: "b")
        #expect(parts?.map(\.name) == ["a", "f"] && parts?[1].filename == "x.pdf" && parts?[1].body == Array("%PDF".utf8))
        #expect(MultipartForm.parse(Array("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nun".utf8), boundary: "b") == nil)
        #expect(MultipartForm.parse(Array("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nun\r\n--b--".utf8), boundary: "b") == nil)
        #expect(MultipartForm.parse(Array("--b\r\nX: y\r\n\r\nun\r\n--b--".utf8), boundary: "b") == nil)
        #expect(MultipartForm.parse(Array("garbage".utf8), boundary: "b") == nil)
        let many = (0..<11).map { _ in "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n" }.joined() + "--b--"
        #expect(MultipartForm.parse(Array(many.utf8), boundary: "b") == nil)
        #expect(MultipartForm.boundary(of: "multipart/form-data; boundary=\"q r\"") == nil)
        #expect(MultipartForm.boundary(of: "multipart/form-data; boundary=----WebKitFormBoundaryABC") == "----WebKitFormBoundaryABC")
        #expect(MultipartForm.boundary(of: "application/x-www-form-urlencoded") == nil)
        #expect(FamilyFileForms.Upload.cleanName("C:\\x\\a\u{0}b\".pdf") == "ab.pdf")
    }
}

extension FamilyFileTests {
    /// The waiting list is no way around the file: joining it answers with what is missing, and nothing
    /// is written; a stranger's upload is turned away before its body is read.
    @Test func theWaitingListAndStrangersMeetTheSameGate() async throws {
        try await withPortal(places: 1, petitExtra: Self.rules) { client, fixture in
            let parent = Browser(client)
            _ = try await parent.login("/petit", email: "parent@example.org", password: PortalFixture.password)
            _ = try await parent.get("/petit/dossier")
            let childID = try await count(fixture, "SELECT id::int FROM children WHERE first_name = 'JULES' AND center_id = \(fixture.petit.id)")
            let d = fixture.petit.center.periods[0].startsOn
            try await fixture.database.owner.withConnection { c in
                try await c.run("UPDATE day_capacities SET taken = places WHERE day = \(d.iso)::date", logger: fixture.database.logger)
            }
            let join = try await parent.post("/petit/reservations/liste-attente", [("enfant", String(childID)), ("periode", "vacances"),
                                                                                  ("attente", "\(d.iso):journee")])
            #expect(join.status == .conflict && join.text.contains("Avant de réserver, complétez votre dossier"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM waiting_list") == 0)

            let stranger = Browser(client)
            _ = try await stranger.get("/petit/")
            let turnedAway = try await stranger.upload("/petit/dossier/documents", [("type", "insurance")], file: ("fichier", "a.pdf", Self.pdf))
            #expect(turnedAway.status == .seeOther && turnedAway.location == "/petit/?connexion=requise")
            #expect(try await count(fixture, "SELECT count(*)::int FROM family_documents") == 0)
        }
    }
}

/// Issue 15, item 5: a family creates its account itself where the center allows it, adds its children,
/// and books once the staff approve it when the center asks for that.
@Suite struct SignUpTests {
    static let rules = """
        family_file:
          self_sign_up: true
          approve_sign_ups: true
        """

    func activationToken(_ fixture: PortalFixture, _ email: String) async throws -> String {
        let mail = try await fixture.database.owner.withConnection { c in
            try await c.first("SELECT body_text FROM mail_outbox WHERE to_address = \(email) ORDER BY id DESC LIMIT 1", (String.self), logger: fixture.database.logger)
        }
        return String(try #require(mail?.firstMatch(of: /activation\?jeton=([A-Za-z0-9_-]{43})/)?.1))
    }

    @Test func aFamilySignsUpAddsItsChildAndBooksOnceApproved() async throws {
        try await withPortal(petitExtra: Self.rules) { client, fixture in
            let visitor = Browser(client)
            #expect(try await visitor.get("/petit/").text.contains("Créer mon compte famille"))
            #expect(try await visitor.get("/autre/inscription").status == .notFound)  // autre does not allow it
            _ = try await visitor.get("/petit/inscription")
            let wrong = try await visitor.post("/petit/inscription", [("identifiant", "pas-une-adresse"), ("nom", "NOUVEAU Léon")])
            #expect(wrong.status == .unprocessableContent && wrong.text.contains("adresse e-mail valide") && wrong.body.contains("NOUVEAU Léon"))
            let sent = try await visitor.post("/petit/inscription", [("identifiant", "nouveau@example.org"), ("nom", "NOUVEAU Léon")])
            #expect(sent.status == .ok && sent.text.contains("un e-mail vient de lui être envoyé"))
            // The same answer for an address that has an account: nothing created, the mail says so.
            _ = try await visitor.get("/petit/inscription")
            let known = try await visitor.post("/petit/inscription", [("identifiant", "parent@example.org"), ("nom", "Quelqu'un")])
            #expect(known.status == .ok && known.text.contains("un e-mail vient de lui être envoyé"))
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'parent@example.org' AND body_text LIKE '%en a déjà un%'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE center_id = \(fixture.petit.id)") == 3)

            // The link, the password, the login.
            let token = try await activationToken(fixture, "nouveau@example.org")
            _ = try await visitor.get("/petit/activation?jeton=\(token)")
            #expect(try await visitor.post("/petit/activation", [("jeton", token), ("mot_de_passe", PortalFixture.password),
                                                                 ("confirmation", PortalFixture.password)]).status == .ok)
            let parent = Browser(client)
            #expect(try await parent.login("/petit", email: "nouveau@example.org", password: PortalFixture.password).status == .seeOther)
            let gaps = try await parent.get("/petit/reservations/nouvelle")
            #expect(gaps.text.contains("la validation de votre inscription par l'accueil"))

            // Children, added by the family: a date in the future is refused, what was typed stays.
            _ = try await parent.get("/petit/dossier")
            let future = try await parent.post("/petit/dossier/enfants", [("enfant_prenom", "Lou"), ("enfant_nom", "NOUVEAU"), ("enfant_naissance", "2999-01-01")])
            #expect(future.status == .unprocessableContent && future.text.contains("date de naissance") && future.body.contains("Lou"))
            #expect(try await parent.post("/petit/dossier/enfants", [("enfant_prenom", "Lou"), ("enfant_nom", "NOUVEAU"),
                                                                     ("enfant_naissance", youngChildBirthDate.iso)]).status == .seeOther)
            #expect(try await parent.get("/petit/dossier").text.contains("LOU – fiche sanitaire à remplir"))

            // The staff approve it: the family may book.
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let staff = try await invitedToken(client, fixture, center: "petit", email: "animation@petit.example.org", role: "staff", by: admin)
            let queue = try await apiJSON(client, .get, "/api/centers/petit/family-file/changes", token: staff)
            let change = try #require((queue.json["changes"] as? [[String: Any]])?.first { $0["item"] as? String == "sign_up" })
            #expect(change["summary"] as? String == "Nouvelle inscription : NOUVEAU Léon (nouveau@example.org)")
            let accepted = try await apiJSON(client, .post, "/api/centers/petit/family-file/changes/\(try #require(change["id"] as? Int))", token: staff,
                                             json: #"{"decision": "accepted"}"#)
            #expect(accepted.status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'nouveau@example.org' AND subject LIKE '%validée%'") == 1)
            let grid = try await parent.get("/petit/reservations/nouvelle")
            #expect(!grid.text.contains("Avant de réserver") && grid.text.contains("Vacances"))
        }
    }

    @Test func aRefusedSignUpIsErasedAndItsAddressFreed() async throws {
        try await withPortal(petitExtra: Self.rules) { client, fixture in
            let visitor = Browser(client)
            _ = try await visitor.get("/petit/inscription")
            _ = try await visitor.post("/petit/inscription", [("identifiant", "douteux@example.org"), ("nom", "DOUTEUX Max")])
            let admin = try await staffToken(fixture, email: "admin@federation.example.org", federationAdmin: true)
            let queue = try await apiJSON(client, .get, "/api/centers/petit/family-file/changes", token: admin)
            let id = try #require((queue.json["changes"] as? [[String: Any]])?.first?["id"] as? Int)
            #expect(try await apiJSON(client, .post, "/api/centers/petit/family-file/changes/\(id)", token: admin,
                                      json: #"{"decision": "refused", "note": "Famille inconnue de l'accueil."}"#).status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE email = 'douteux@example.org'") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE name = 'Famille effacée' AND state = 'deactivated'") == 1)
            #expect(try await count(fixture, "SELECT count(*)::int FROM account_tokens t JOIN families f ON f.id = t.family_id WHERE f.name = 'Famille effacée' AND t.used_at IS NULL") == 0)
            #expect(try await count(fixture, "SELECT count(*)::int FROM mail_outbox WHERE to_address = 'douteux@example.org' AND body_text LIKE '%Famille inconnue%'") == 1)
            // The address is free again: its owner may sign up (or be invited by the staff).
            _ = try await visitor.get("/petit/inscription")
            #expect(try await visitor.post("/petit/inscription", [("identifiant", "douteux@example.org"), ("nom", "DOUTEUX Max")]).status == .ok)
            #expect(try await count(fixture, "SELECT count(*)::int FROM families WHERE email = 'douteux@example.org' AND state = 'invited'") == 1)
        }
    }
}

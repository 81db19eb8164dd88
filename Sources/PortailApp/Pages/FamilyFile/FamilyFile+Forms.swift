import Foundation
import PortailDomain
import PortailStore

/// The family file's forms, read and checked: each keeps what was typed (to show it again) and says in
/// French what to fix.
enum FamilyFileForms {
    static func text(_ form: FormFields, _ name: String) -> String {
        (form[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func phoneIsValid(_ phone: String) -> Bool {
        phone.range(of: #"^[+0-9 .()-]{6,25}$"#, options: .regularExpression) != nil && phone.filter(\.isNumber).count >= 6
    }

    static func yesNo(_ form: FormFields, _ name: String) -> Bool? {
        switch form[name] {
        case "oui": true
        case "non": false
        default: nil
        }
    }

    struct Contacts {
        var address: String
        var postcode: String
        var city: String
        var phone: String
        var errors: [String] = []

        init(_ form: FormFields) {
            address = FamilyFileForms.text(form, "adresse")
            postcode = FamilyFileForms.text(form, "code_postal")
            city = FamilyFileForms.text(form, "commune")
            phone = FamilyFileForms.text(form, "telephone")
            let lines = lines
            if lines.isEmpty { errors.append("Indiquez votre adresse.") }
            if lines.count > 3 || lines.contains(where: { $0.count > 100 }) { errors.append("L'adresse tient en 3 lignes de 100 caractères au plus.") }
            if postcode.range(of: "^[0-9]{5}$", options: .regularExpression) == nil { errors.append("Le code postal s'écrit en 5 chiffres (ex. 06650).") }
            if city.isEmpty || city.count > 100 { errors.append("Indiquez votre commune (100 caractères au plus).") }
            if !FamilyFileForms.phoneIsValid(phone) { errors.append("Indiquez un numéro de téléphone (ex. 06 12 34 56 78).") }
        }

        var lines: [String] {
            address.components(separatedBy: .newlines).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        var value: FamilyFile.Contacts? {
            errors.isEmpty ? FamilyFile.Contacts(addressLines: lines, postcode: postcode, city: city, phone: phone) : nil
        }
    }

    struct Person: Encodable {
        var kind: String
        var firstName: String
        var lastName: String
        var relation: String
        var email: String
        var phone: String
        var errors: [String] = []

        init(_ form: FormFields) {
            kind = form["type"] ?? ""
            firstName = FamilyFileForms.text(form, "prenom")
            lastName = FamilyFileForms.text(form, "nom")
            relation = FamilyFileForms.text(form, "lien")
            email = FamilyFileForms.text(form, "courriel")
            phone = FamilyFileForms.text(form, "telephone")
            if kind != "responsable" && kind != "autorise" { errors.append("Choisissez s'il s'agit d'un responsable légal ou d'une personne autorisée.") }
            if firstName.isEmpty || firstName.count > 100 { errors.append("Indiquez le prénom (100 caractères au plus).") }
            if lastName.isEmpty || lastName.count > 100 { errors.append("Indiquez le nom (100 caractères au plus).") }
            if relation.isEmpty || relation.count > 60 { errors.append("Indiquez le lien avec l'enfant (ex. père, grand-mère, voisin ; 60 caractères au plus).") }
            if !email.isEmpty && InputLimits.email(email) == nil { errors.append("L'adresse e-mail « \(email.prefix(60)) » n'est pas valide.") }
            if !FamilyFileForms.phoneIsValid(phone) { errors.append("Indiquez un numéro de téléphone où joindre cette personne.") }
        }

        var value: FamilyFile.Person? {
            guard errors.isEmpty else { return nil }
            return FamilyFile.Person(kind: kind == "responsable" ? .guardian : .pickup, firstName: firstName, lastName: lastName,
                                     relation: relation, email: email, phone: phone)
        }
    }

    struct Child {
        var value = FamilyFile.ChildFile()
        var errors: [String] = []
        /// The vaccinations answer as posted (nil: not answered), to show the form again.
        var answeredVaccinations: Bool?

        init(_ form: FormFields) {
            value.doctor = FamilyFileForms.text(form, "medecin")
            value.doctorPhone = FamilyFileForms.text(form, "medecin_telephone")
            value.allergies = FamilyFileForms.text(form, "allergies")
            value.pai = form["pai"] == "oui"
            value.paiDetails = FamilyFileForms.text(form, "pai_precisions")
            value.diet = FamilyFileForms.text(form, "regime")
            let vaccinations = FamilyFileForms.yesNo(form, "vaccinations")
            value.vaccinationsOK = vaccinations == true
            value.notes = FamilyFileForms.text(form, "notes")
            value.imageRights = FamilyFileForms.yesNo(form, "image")
            value.outings = FamilyFileForms.yesNo(form, "sorties")
            value.goesHomeAlone = FamilyFileForms.yesNo(form, "retour_seul")
            if value.doctor.count > 100 { errors.append("Le nom du médecin tient en 100 caractères.") }
            if !value.doctorPhone.isEmpty && !FamilyFileForms.phoneIsValid(value.doctorPhone) { errors.append("Le téléphone du médecin n'est pas un numéro de téléphone.") }
            for (label, text) in [("Les allergies", value.allergies), ("Les précisions du PAI", value.paiDetails), ("Le régime", value.diet),
                                  ("Les autres informations", value.notes)] where text.count > 1000 {
                errors.append("\(label) : 1 000 caractères au plus.")
            }
            if value.pai && value.paiDetails.isEmpty { errors.append("Précisez le PAI (pathologie, traitement, qui contacter).") }
            if vaccinations == nil { errors.append("Dites si les vaccinations obligatoires sont à jour (oui ou non).") }
            answeredVaccinations = vaccinations
        }
    }

    /// A child the family adds itself: names and a date of birth under 18 years.
    struct NewChild: Encodable {
        var firstName: String
        var lastName: String
        var birth: String
        var errors: [String] = []
        var birthDate: LocalDate?

        init(_ form: FormFields, today: LocalDate) {
            firstName = FamilyFileForms.text(form, "enfant_prenom")
            lastName = FamilyFileForms.text(form, "enfant_nom")
            birth = FamilyFileForms.text(form, "enfant_naissance")
            if firstName.isEmpty || firstName.count > 100 { errors.append("Indiquez le prénom de l'enfant (100 caractères au plus).") }
            if lastName.isEmpty || lastName.count > 100 { errors.append("Indiquez le nom de l'enfant (100 caractères au plus).") }
            if let day = PeriodForm.date(birth), day <= today, day.age(on: today) < 18 {
                birthDate = day
            } else {
                errors.append("Indiquez la date de naissance de l'enfant (un enfant de moins de 18 ans), par exemple 14/03/2019.")
            }
        }
    }

    struct Upload {
        struct File {
            let name: String
            let type: String
            let bytes: [UInt8]
        }
        var kind: FamilyFileRules.DocumentKind?
        var child: Int64?
        var file: File?
        var errors: [String] = []

        init(_ form: FormFields, files: [MultipartForm.Part]) {
            kind = form["type"].flatMap(FamilyFileRules.DocumentKind.init(rawValue:))
            if kind == nil { errors.append("Choisissez le type de document.") }
            if kind?.perChild == true {
                child = form["enfant"].flatMap { Int64($0) }
                if child == nil { errors.append("Choisissez l'enfant dont c'est le carnet de vaccination.") }
            }
            let sent = files.filter { $0.name == "fichier" }
            guard sent.count == 1, let part = sent.first, !part.body.isEmpty else {
                errors.append("Choisissez un fichier (PDF, JPEG ou PNG, 5 Mo au plus).")
                return
            }
            guard part.body.count <= FamilyFile.maxDocumentSize else {
                let megabytes = (Double(part.body.count) / 1_048_576 * 10).rounded(.up) / 10
                errors.append("Ce fichier pèse \(String(format: "%.1f", megabytes).replacingOccurrences(of: ".", with: ",")) Mo : 5 Mo au plus. Réduisez-le (photo moins grande, PDF compressé).")
                return
            }
            guard let type = Self.type(of: part.body) else {
                errors.append("Ce fichier n'est ni un PDF, ni une image JPEG ou PNG : enregistrez-le dans l'un de ces formats.")
                return
            }
            file = File(name: Self.cleanName(part.filename ?? ""), type: type, bytes: part.body)
        }

        /// The type read from the first bytes (the browser's word is not taken).
        static func type(of bytes: [UInt8]) -> String? {
            if bytes.starts(with: Array("%PDF-".utf8)) { return "application/pdf" }
            if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
            if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
            return nil
        }

        /// The file's own name without its folder, control characters or quotes, 120 characters at most.
        static func cleanName(_ raw: String) -> String {
            let base = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
            let clean = String(base.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) && $0 != "\"" }.map(Character.init))
                .trimmingCharacters(in: .whitespaces)
            return clean.isEmpty ? "document" : String(String.UnicodeScalarView(clean.unicodeScalars.prefix(120)))
        }
    }
}

import Foundation
import PortailDomain
import PortailStore

/// "Mon dossier": what the family's file holds, what the center still needs, and its forms.
struct FamilyFileModel: TemplateModel {
    static let notices = [
        "coordonnees": "Vos coordonnées sont enregistrées.",
        "personne": "La personne est ajoutée à votre dossier.",
        "retire": "La personne est retirée de votre dossier.",
        "enfant": "La fiche de votre enfant est enregistrée.",
        "document": "Le document est ajouté à votre dossier.",
        "document-retire": "Le document est retiré de votre dossier.",
        "confirme": "Merci : votre dossier est confirmé à jour.",
        "enfant-ajoute": "L'enfant est ajouté à votre dossier : remplissez maintenant sa fiche.",
    ]

    struct Person: Encodable {
        let id: Int64
        let name: String
        let relation: String
        let contact: String
    }
    struct ChildRow: Encodable {
        let name: String
        let health: String
        let authorisations: String
        let link: String
    }
    struct DocumentRow: Encodable {
        let id: Int64
        let label: String
        let filename: String
        let size: String
        let state: String
        let link: String
    }
    struct Option: Encodable {
        let value: String
        let label: String
    }

    let page: PageChrome
    let email: String
    let gaps: [String]
    let hasGaps: Bool
    let notice: String?
    let errors: [String]
    let hasErrors: Bool
    let validationNote: String?
    let pendingNote: String?
    let address: String
    let postcode: String
    let city: String
    let phone: String
    let guardians: [Person]
    let hasGuardians: Bool
    let pickup: [Person]
    let hasPickup: Bool
    let person: FamilyFileForms.Person?
    let personIsGuardian: Bool
    let personIsPickup: Bool
    let children: [ChildRow]
    let documents: [DocumentRow]
    let hasDocuments: Bool
    let documentKinds: [Option]
    let childOptions: [Option]
    let confirmation: String
    let asksConfirmation: Bool
    /// The family adds its children itself (a center that lets families sign up).
    let addsChildren: Bool
    let child: FamilyFileForms.NewChild?

    init(_ context: AppRequestContext, view: FamilyFile.View, rules: FamilyFileRules?, notice: String?, errors: [String],
         contactsForm: FamilyFileForms.Contacts?, personForm: FamilyFileForms.Person?, childForm: FamilyFileForms.NewChild? = nil) {
        let zone = context.center!.center.zone
        let base = context.basePath
        page = PageChrome(context)
        email = view.email
        gaps = (rules?.gaps(view.snapshot, now: Date()) ?? []).map(Self.words)
        hasGaps = !gaps.isEmpty
        self.notice = notice
        self.errors = errors
        hasErrors = !errors.isEmpty
        let validated = rules?.validation ?? []
        validationNote = validated.isEmpty ? nil
            : "L'équipe de l'accueil vérifie les changements de " + validated.map(Self.itemWords).joined(separator: ", ") + "."
        pendingNote = view.pending == 0 ? nil
            : "\(view.pending) changement\(view.pending > 1 ? "s attendent" : " attend") la vérification de l'équipe."
        address = contactsForm?.address ?? view.contacts.addressLines.joined(separator: "\n")
        postcode = contactsForm?.postcode ?? view.contacts.postcode
        city = contactsForm?.city ?? view.contacts.city
        phone = contactsForm?.phone ?? view.contacts.phone
        let people = view.people.map { p in
            (p.kind, Person(id: p.id, name: "\(p.firstName) \(p.lastName)", relation: p.relation,
                            contact: [p.phone, p.email].filter { !$0.isEmpty }.joined(separator: " – ")))
        }
        guardians = people.filter { $0.0 == .guardian }.map(\.1)
        hasGuardians = !guardians.isEmpty
        pickup = people.filter { $0.0 == .pickup }.map(\.1)
        hasPickup = !pickup.isEmpty
        person = personForm
        personIsGuardian = personForm?.kind == "responsable"
        personIsPickup = personForm?.kind == "autorise"
        children = view.children.map { child in
            ChildRow(name: child.firstName,
                     health: child.healthSavedAt.map { "fiche sanitaire remplie le \(LocalDate($0, in: zone).french)" } ?? "fiche sanitaire à remplir",
                     authorisations: child.authorisationsDone ? "autorisations données" : "autorisations à donner",
                     link: "\(base)/dossier/enfants/\(child.id)")
        }
        let names = Dictionary(uniqueKeysWithValues: view.children.map { ($0.id, $0.firstName) })
        documents = view.documents.map { d in
            DocumentRow(id: d.id, label: FamilyFile.documentLabel(d.kind).capitalizedFirst + (d.childID.flatMap { names[$0] }.map { " de \($0)" } ?? ""),
                        filename: d.filename, size: d.size >= 1_048_576 ? "\(d.size / 1_048_576) Mo" : "\(max(1, d.size / 1024)) ko",
                        state: Self.documentState[d.state] ?? d.state, link: "\(base)/dossier/documents/\(d.id)")
        }
        hasDocuments = !documents.isEmpty
        let asked = Set(rules?.documents ?? [])
        documentKinds = FamilyFileRules.DocumentKind.allCases.map {
            Option(value: $0.rawValue, label: FamilyFile.documentLabel($0).capitalizedFirst + (asked.contains($0) ? " (demandé par l'accueil)" : ""))
        }
        childOptions = view.children.map { Option(value: String($0.id), label: $0.firstName) }
        confirmation = view.confirmedAt.map { "Dossier confirmé à jour le \(LocalDate($0, in: zone).french)." } ?? "Vous n'avez pas encore confirmé votre dossier."
        asksConfirmation = rules?.confirmEveryDays != nil
        addsChildren = rules?.selfSignUp == true
        child = childForm
    }

    static let documentState = ["received": "reçu", "pending": "en attente de vérification", "accepted": "vérifié", "refused": "refusé : déposez-en un autre"]

    /// What a gap asks of the family, in French.
    static func words(_ gap: FamilyFileGap) -> String {
        switch gap {
        case .contacts: "vos coordonnées (adresse et téléphone)"
        case .guardians: "un autre responsable légal (second parent ou tuteur)"
        case .pickup: "au moins une personne autorisée à venir chercher les enfants"
        case .health(let child): "la fiche sanitaire de \(child)"
        case .authorisations(let child): "les autorisations de \(child) (droit à l'image, sorties, retour seul)"
        case .document(let kind, let child): "le document « \(FamilyFile.documentLabel(kind))\(child.map { " de \($0)" } ?? "") »"
        case .confirmation: "la confirmation que votre dossier est à jour"
        case .approval: "la validation de votre inscription par l'accueil (vous serez prévenu par e-mail)"
        }
    }

    static func itemWords(_ item: FamilyFileRules.Item) -> String {
        switch item {
        case .contacts: "coordonnées"
        case .guardians: "responsables"
        case .pickup: "personnes autorisées"
        case .health: "fiches sanitaires"
        case .authorisations: "autorisations"
        case .documents: "documents"
        }
    }
}

/// A child's health form and authorisations.
struct ChildFileModel: TemplateModel {
    struct Choice: Encodable {
        let yes: Bool
        let no: Bool
    }
    let page: PageChrome
    let childName: String
    let action: String
    let errors: [String]
    let hasErrors: Bool
    let doctor: String
    let doctorPhone: String
    let allergies: String
    let pai: Bool
    let paiDetails: String
    let diet: String
    let vaccinations: Choice
    let notes: String
    let image: Choice
    let outings: Choice
    let alone: Choice

    init(_ context: AppRequestContext, child: FamilyFile.Child, form: FamilyFileForms.Child?) {
        let file = form?.value ?? child.file
        page = PageChrome(context)
        childName = child.firstName
        action = "\(context.basePath)/dossier/enfants/\(child.id)"
        errors = form?.errors ?? []
        hasErrors = !errors.isEmpty
        (doctor, doctorPhone, allergies, pai, paiDetails, diet, notes) =
            (file.doctor, file.doctorPhone, file.allergies, file.pai, file.paiDetails, file.diet, file.notes)
        func choice(_ value: Bool?) -> Choice { Choice(yes: value == true, no: value == false) }
        // A form saved before says yes or no; a form never saved asks.
        vaccinations = choice(form.map { $0.answeredVaccinations } ?? (child.healthSavedAt == nil ? nil : file.vaccinationsOK))
        image = choice(file.imageRights)
        outings = choice(file.outings)
        alone = choice(file.goesHomeAlone)
    }
}

struct FamilyFileGapsModel: TemplateModel {
    let page: PageChrome
    let gaps: [String]
}

extension String {
    /// "Carnet de vaccination" from "carnet de vaccination".
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

/// Text from outside (a bank notification's fields as a provider quotes them in its refusal) as a log line
/// may keep it: at most 500 characters, and no control or format characters (line breaks, a right-to-left
/// override) with which a stranger could forge or hide log lines.
enum LogText {
    static let limit = 500

    static func clip(_ text: String) -> String {
        var clipped = String(text.unicodeScalars.prefix(limit).map { scalar -> Character in
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: return "?"
            default: return Character(scalar)
            }
        })
        if text.unicodeScalars.count > limit { clipped += "…" }
        return clipped
    }
}

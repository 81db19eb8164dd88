import CCairo
import Foundation

/// Where cairo writes the PDF bytes.
private final class PDFBytes {
    var data = Data()
}

/// An A4 PDF drawn with cairo: text in DejaVu Sans (embedded, so accents and € render everywhere),
/// lines, with word wrapping and page breaks. Coordinates in points from the top left.
final class PDFCanvas {
    static let width = 595.0, height = 842.0
    static let margin = 50.0

    private let bytes = PDFBytes()
    private let surface: OpaquePointer
    private let cr: OpaquePointer
    /// The baseline of the next line of text.
    var y = PDFCanvas.margin

    init(title: String) {
        surface = cairo_pdf_surface_create_for_stream({ closure, data, length in
            guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
            Unmanaged<PDFBytes>.fromOpaque(closure).takeUnretainedValue().data.append(data, count: Int(length))
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(bytes).toOpaque(), Self.width, Self.height)
        cr = cairo_create(surface)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title)
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Portail Famille")
        cairo_set_source_rgb(cr, 0.11, 0.16, 0.2)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    /// Ends the document and returns its bytes.
    func finish() -> Data {
        cairo_show_page(cr)
        cairo_surface_finish(surface)
        return bytes.data
    }

    func font(size: Double, bold: Bool = false) {
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    func width(of text: String) -> Double {
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, text, &extents)
        return extents.x_advance
    }

    /// Draws text with its baseline at `y`, left-aligned at `x` (or right-aligned to `x` when `right`).
    func text(_ text: String, x: Double, y: Double, right: Bool = false) {
        cairo_move_to(cr, right ? x - width(of: text) : x, y)
        cairo_show_text(cr, text)
    }

    /// Writes a paragraph at the left margin (or `x`), wrapped to `maxWidth`, moving `y` down.
    func paragraph(_ text: String, size: Double = 10, bold: Bool = false, x: Double = PDFCanvas.margin,
                   maxWidth: Double = PDFCanvas.width - 2 * PDFCanvas.margin, spacing: Double = 1.35) {
        font(size: size, bold: bold)
        for line in wrap(text, maxWidth: maxWidth) {
            newPageIfNeeded(lineHeight: size * spacing)
            self.text(line, x: x, y: y)
            y += size * spacing
        }
    }

    /// Splits text into lines that fit `maxWidth` with the current font.
    func wrap(_ text: String, maxWidth: Double) -> [String] {
        var lines: [String] = []
        for paragraph in text.components(separatedBy: "\n") {
            var current = ""
            for word in paragraph.split(separator: " ") {
                let candidate = current.isEmpty ? String(word) : current + " " + word
                if width(of: candidate) <= maxWidth || current.isEmpty {
                    current = candidate
                } else {
                    lines.append(current)
                    current = String(word)
                }
            }
            lines.append(current)
        }
        return lines
    }

    func rule(from x1: Double = PDFCanvas.margin, to x2: Double = PDFCanvas.width - PDFCanvas.margin, at y: Double, width: Double = 0.5) {
        cairo_set_line_width(cr, width)
        cairo_move_to(cr, x1, y)
        cairo_line_to(cr, x2, y)
        cairo_stroke(cr)
    }

    func newPageIfNeeded(lineHeight: Double) {
        if y + lineHeight > Self.height - Self.margin {
            cairo_show_page(cr)
            y = Self.margin
        }
    }
}

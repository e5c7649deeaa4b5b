//! The e-certificate as a one-page A4 PDF: Chinese text in an embedded subset of a CJK
//! font from a Debian package (`fonts-wqy-microhei`), the institution's seal and the
//! bureau's verification mark, and a QR code to the public verification page.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

/// What the certificate says.
#[derive(Clone, Debug)]
pub struct CertificateDoc {
    /// Certificate number.
    pub number: String,
    /// The trainee's name (in full: it is the trainee's own certificate).
    pub name: String,
    /// Masked ID number.
    pub id_number_masked: String,
    /// Course label, e.g. `创业意识培训（GYB）`.
    pub course: String,
    /// Class name.
    pub class_name: String,
    /// Institution.
    pub institution: String,
    /// Training dates, e.g. `2026年3月1日至2026年3月20日`.
    pub period: String,
    /// Date of the institution's seal.
    pub stamped_on: String,
    /// Date of the bureau's verification (验印).
    pub verified_on: String,
    /// URL of the public verification page (in the QR code).
    pub verify_url: String,
}

/// Rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The font file cannot be parsed.
    #[error("the certificate font cannot be read: {0}")]
    Font(String),
    /// A character the font lacks.
    #[error("the certificate font has no glyph for {0:?}")]
    MissingGlyph(char),
    /// Subsetting failed.
    #[error("font subsetting failed: {0}")]
    Subset(String),
    /// QR encoding failed.
    #[error("QR code: {0}")]
    Qr(String),
}

struct Font<'a> {
    face: ttf_parser::Face<'a>,
    /// Glyphs used: original glyph id → (char).
    used: BTreeMap<u16, char>,
}

impl Font<'_> {
    fn glyphs(&mut self, text: &str) -> Result<Vec<u16>, PdfError> {
        text.chars()
            .map(|c| {
                let g = self.face.glyph_index(c).ok_or(PdfError::MissingGlyph(c))?.0;
                self.used.insert(g, c);
                Ok(g)
            })
            .collect()
    }

    fn width(&self, text_glyphs: &[u16], size: f32) -> f32 {
        let upm = f32::from(self.face.units_per_em());
        text_glyphs
            .iter()
            .map(|g| {
                f32::from(
                    self.face
                        .glyph_hor_advance(ttf_parser::GlyphId(*g))
                        .unwrap_or(0),
                )
            })
            .sum::<f32>()
            / upm
            * size
    }
}

/// A positioned run of text, in original glyph ids (remapped when written).
struct Run {
    glyphs: Vec<u16>,
    x: f32,
    y: f32,
    size: f32,
    rgb: (f32, f32, f32),
}

const A4: (f32, f32) = (595.0, 842.0);

/// Renders the certificate.
pub fn render(
    doc: &CertificateDoc,
    font_data: &[u8],
    font_index: u32,
) -> Result<Vec<u8>, PdfError> {
    let face = ttf_parser::Face::parse(font_data, font_index)
        .map_err(|e| PdfError::Font(e.to_string()))?;
    let mut font = Font {
        face,
        used: BTreeMap::new(),
    };
    let black = (0.1, 0.1, 0.1);
    let red = (0.8, 0.05, 0.05);
    let mut runs = Vec::new();
    let mut centered =
        |font: &mut Font, text: &str, y: f32, size: f32, rgb| -> Result<(), PdfError> {
            let g = font.glyphs(text)?;
            let x = (A4.0 - font.width(&g, size)) / 2.0;
            runs.push(Run {
                glyphs: g,
                x,
                y,
                size,
                rgb,
            });
            Ok(())
        };
    centered(&mut font, "结业证书", 700.0, 40.0, red)?;
    centered(
        &mut font,
        "互联网+创业培训 电子培训合格证书",
        660.0,
        14.0,
        black,
    )?;
    let body = [
        format!("学员 {}（身份证号 {}）", doc.name, doc.id_number_masked),
        format!("于 {} 参加 {}", doc.period, doc.institution),
        format!("举办的 {} {}，", doc.course, doc.class_name),
        "经考核合格，特发此证。".to_string(),
    ];
    let mut y = 590.0;
    let mut left = Vec::new();
    for line in &body {
        left.push((font.glyphs(line)?, y));
        y -= 30.0;
    }
    for (g, y) in left {
        runs.push(Run {
            glyphs: g,
            x: 70.0,
            y,
            size: 15.0,
            rgb: black,
        });
    }
    let footer = [
        (format!("证书编号：{}", doc.number), 330.0),
        (
            format!("培训机构盖章：{}（{}）", doc.institution, doc.stamped_on),
            305.0,
        ),
        (format!("人社部门验印：{}", doc.verified_on), 280.0),
        ("扫描二维码或访问以下网址验证证书真伪：".to_string(), 150.0),
        (doc.verify_url.clone(), 132.0),
    ];
    for (text, y) in &footer {
        let g = font.glyphs(text)?;
        runs.push(Run {
            glyphs: g,
            x: 70.0,
            y: *y,
            size: if *y < 140.0 { 9.0 } else { 12.0 },
            rgb: black,
        });
    }
    // The seal: institution name inside a red ring.
    let seal_text = font.glyphs(&doc.institution.chars().take(8).collect::<String>())?;
    let seal_size = 8.5;
    let seal_w = font.width(&seal_text, seal_size);
    let verified = font.glyphs("已验印")?;
    let ver_w = font.width(&verified, 11.0);
    let seal_c = (440.0, 420.0);
    runs.push(Run {
        glyphs: seal_text,
        x: seal_c.0 - seal_w / 2.0,
        y: seal_c.1 - 3.0,
        size: seal_size,
        rgb: red,
    });
    runs.push(Run {
        glyphs: verified,
        x: seal_c.0 - ver_w / 2.0,
        y: seal_c.1 - 25.0,
        size: 11.0,
        rgb: red,
    });

    // Subset the font to the glyphs used; the new ids are the CIDs.
    let mut remapper = subsetter::GlyphRemapper::new();
    for g in font.used.keys() {
        remapper.remap(*g);
    }
    let subset = subsetter::subset(font_data, font_index, &remapper)
        .map_err(|e| PdfError::Subset(format!("{e:?}")))?;
    let new_id = |g: u16| remapper.get(g).expect("remapped above");

    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page = Ref::new(3);
    let content_id = Ref::new(4);
    let type0 = Ref::new(5);
    let cid = Ref::new(6);
    let descriptor = Ref::new(7);
    let file = Ref::new(8);
    let cmap_id = Ref::new(9);
    let font_name = Name(b"KTCJK+WenQuanYiMicroHei");

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    {
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, A4.0, A4.1));
        p.parent(pages);
        p.contents(content_id);
        p.resources().fonts().pair(Name(b"F1"), type0);
        p.finish();
    }
    pdf.type0_font(type0)
        .base_font(font_name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap_id);
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    {
        let upm = f32::from(font.face.units_per_em());
        let mut by_new: Vec<(u16, f32)> = font
            .used
            .keys()
            .map(|g| {
                let adv = f32::from(
                    font.face
                        .glyph_hor_advance(ttf_parser::GlyphId(*g))
                        .unwrap_or(0),
                );
                (new_id(*g), adv * 1000.0 / upm)
            })
            .collect();
        by_new.sort_by_key(|(g, _)| *g);
        let mut c = pdf.cid_font(cid);
        c.subtype(CidFontType::Type2)
            .base_font(font_name)
            .system_info(system_info)
            .font_descriptor(descriptor)
            .default_width(1000.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        let mut w = c.widths();
        for (g, width) in &by_new {
            w.consecutive(*g, [*width]);
        }
        w.finish();
        c.finish();
    }
    {
        let f = &font.face;
        let upm = f32::from(f.units_per_em());
        let s = |v: i16| f32::from(v) * 1000.0 / upm;
        let bb = f.global_bounding_box();
        pdf.font_descriptor(descriptor)
            .name(font_name)
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(
                s(bb.x_min),
                s(bb.y_min),
                s(bb.x_max),
                s(bb.y_max),
            ))
            .italic_angle(0.0)
            .ascent(s(f.ascender()))
            .descent(s(f.descender()))
            .cap_height(s(f.capital_height().unwrap_or(f.ascender())))
            .stem_v(80.0)
            .font_file2(file);
    }
    let mut cmap = UnicodeCmap::new(Name(b"Custom"), system_info);
    for (g, ch) in &font.used {
        cmap.pair(new_id(*g), *ch);
    }
    pdf.cmap(cmap_id, &cmap.finish());
    let compressed = miniz_deflate(&subset);
    pdf.stream(file, &compressed).filter(Filter::FlateDecode);

    let mut content = Content::new();
    // A double border.
    content.set_stroke_rgb(0.75, 0.55, 0.2).set_line_width(3.0);
    content.rect(30.0, 30.0, A4.0 - 60.0, A4.1 - 60.0).stroke();
    content.set_line_width(1.0);
    content.rect(38.0, 38.0, A4.0 - 76.0, A4.1 - 76.0).stroke();
    // The seal ring.
    content
        .set_stroke_rgb(red.0, red.1, red.2)
        .set_line_width(2.5);
    circle(&mut content, seal_c.0, seal_c.1, 48.0);
    content.stroke();
    for r in &runs {
        let encoded: Vec<u8> = r
            .glyphs
            .iter()
            .flat_map(|g| new_id(*g).to_be_bytes())
            .collect();
        content.set_fill_rgb(r.rgb.0, r.rgb.1, r.rgb.2);
        content.begin_text();
        content.set_font(Name(b"F1"), r.size);
        content.next_line(r.x, r.y);
        content.show(Str(&encoded));
        content.end_text();
    }
    // The QR code, bottom right.
    let qr =
        qrcode::QrCode::new(doc.verify_url.as_bytes()).map_err(|e| PdfError::Qr(e.to_string()))?;
    let n = qr.width();
    let side = 100.0;
    let module = side / n as f32;
    let (qx, qy) = (A4.0 - 70.0 - side, 170.0);
    content.set_fill_rgb(0.0, 0.0, 0.0);
    for (i, c) in qr.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (col, row) = ((i % n) as f32, (i / n) as f32);
            content.rect(
                qx + col * module,
                qy + side - (row + 1.0) * module,
                module,
                module,
            );
        }
    }
    content.fill_nonzero();
    pdf.stream(content_id, &content.finish());
    Ok(pdf.finish())
}

fn circle(c: &mut Content, x: f32, y: f32, r: f32) {
    // Four cubic Béziers; k makes them hug the circle.
    let k = 0.552_284_8 * r;
    c.move_to(x + r, y);
    c.cubic_to(x + r, y + k, x + k, y + r, x, y + r);
    c.cubic_to(x - k, y + r, x - r, y + k, x - r, y);
    c.cubic_to(x - r, y - k, x - k, y - r, x, y - r);
    c.cubic_to(x + k, y - r, x + r, y - k, x + r, y);
    c.close_path();
}

fn miniz_deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in-memory");
    e.finish().expect("in-memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The font `scripts/setup.sh` installs (Debian `fonts-wqy-microhei`).
    pub const FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

    fn doc() -> CertificateDoc {
        CertificateDoc {
            number: "GYB2026000010001-7KQ2".into(),
            name: "欧阳振华".into(),
            id_number_masked: "410204********1234".into(),
            course: "创业意识培训（GYB）".into(),
            class_name: "第1期".into(),
            institution: "开封市创业培训示范学校".into(),
            period: "2026年3月1日至2026年3月20日".into(),
            stamped_on: "2026年3月21日".into(),
            verified_on: "2026年3月22日".into(),
            verify_url: "https://ketang.example/verify/GYB2026000010001-7KQ2".into(),
        }
    }

    #[test]
    fn renders_a_small_pdf_with_an_embedded_font_subset() {
        let font = std::fs::read(FONT).expect("fonts-wqy-microhei (scripts/setup.sh installs it)");
        let pdf = render(&doc(), &font, 0).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(9).any(|w| w == b"FontFile2"));
        assert!(pdf.windows(10).any(|w| w == b"Identity-H"));
        // A subset, not the 5 MB collection.
        assert!(pdf.len() < 150_000, "{} bytes", pdf.len());
        if let Ok(path) = std::env::var("KETANG_CERT_PDF_OUT") {
            std::fs::write(path, &pdf).unwrap();
        }
    }

    #[test]
    fn a_character_the_font_lacks_is_an_error() {
        let font = std::fs::read(FONT).unwrap();
        let mut d = doc();
        d.name = "\u{10FFFD}".into();
        assert!(matches!(
            render(&d, &font, 0),
            Err(PdfError::MissingGlyph(_))
        ));
        assert!(matches!(
            render(&doc(), b"not a font", 0),
            Err(PdfError::Font(_))
        ));
    }
}

//! Business-plan files are checked by content, not by name or declared type: a PDF starts
//! with `%PDF-` and ends with `%%EOF`; a DOCX is a ZIP archive holding `[Content_Types].xml`
//! and `word/document.xml`.

use std::io::Cursor;

/// A recognised plan file type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFileType {
    /// PDF.
    Pdf,
    /// Word (Office Open XML).
    Docx,
}

impl PlanFileType {
    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            PlanFileType::Pdf => "application/pdf",
            PlanFileType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            PlanFileType::Pdf => "pdf",
            PlanFileType::Docx => "docx",
        }
    }
}

/// Why a file is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    /// Nothing uploaded.
    #[error("the file is empty")]
    Empty,
    /// Starts like a PDF but is truncated or damaged.
    #[error("the file starts like a PDF but has no end-of-file marker (truncated or damaged)")]
    BrokenPdf,
    /// A ZIP archive that is not a Word document.
    #[error("the file is a ZIP archive but not a Word document (no word/document.xml)")]
    NotDocx,
    /// Neither.
    #[error("the file is neither a PDF nor a DOCX document (checked by content, not by name)")]
    Unknown,
}

/// Recognises a plan file by its bytes.
pub fn sniff(bytes: &[u8]) -> Result<PlanFileType, PlanFileError> {
    if bytes.is_empty() {
        return Err(PlanFileError::Empty);
    }
    if bytes.starts_with(b"%PDF-") {
        let tail = &bytes[bytes.len().saturating_sub(1024)..];
        return if tail.windows(5).any(|w| w == b"%%EOF") {
            Ok(PlanFileType::Pdf)
        } else {
            Err(PlanFileError::BrokenPdf)
        };
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
            return Err(PlanFileError::NotDocx);
        };
        let has = |zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str| zip.by_name(name).is_ok();
        return if has(&mut zip, "[Content_Types].xml") && has(&mut zip, "word/document.xml") {
            Ok(PlanFileType::Docx)
        } else {
            Err(PlanFileError::NotDocx)
        };
    }
    Err(PlanFileError::Unknown)
}

/// A minimal valid DOCX (for tests and the demo).
pub fn sample_docx(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut buf = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("[Content_Types].xml", opts).expect("zip");
        z.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).expect("zip");
        z.start_file("word/document.xml", opts).expect("zip");
        write!(z, r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"#).expect("zip");
        z.finish().expect("zip");
    }
    buf.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_pdf_and_docx_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n1 0 obj\n%%EOF\n"), Ok(PlanFileType::Pdf));
        assert_eq!(sniff(&sample_docx("创业计划书")), Ok(PlanFileType::Docx));
    }

    #[test]
    fn refuses_lookalikes() {
        assert_eq!(sniff(b""), Err(PlanFileError::Empty));
        assert_eq!(sniff(b"%PDF-1.7\nno end"), Err(PlanFileError::BrokenPdf));
        assert_eq!(
            sniff(b"hello, I am a .pdf by name"),
            Err(PlanFileError::Unknown)
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), Err(PlanFileError::Unknown));
        // A ZIP that is not a Word document (e.g. an XLSX or any archive).
        let mut buf = Cursor::new(Vec::new());
        {
            use std::io::Write;
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file("notes.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"hi").unwrap();
            z.finish().unwrap();
        }
        assert_eq!(sniff(&buf.into_inner()), Err(PlanFileError::NotDocx));
        assert_eq!(sniff(b"PK\x03\x04garbage"), Err(PlanFileError::NotDocx));
    }
}

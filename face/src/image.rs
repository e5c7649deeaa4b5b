//! Decoding uploaded photos with OpenCV: the type is decided by the bytes (not the file
//! name or declared type), and the image must actually decode.

use opencv::core::{Mat, MatTraitConst, Vector};
use opencv::imgcodecs;

/// Image container formats accepted for registration photos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (what phone cameras produce).
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }

    /// The format the bytes start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else {
            None
        }
    }
}

/// What a decoded image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Container format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why an image was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not JPEG or PNG by its content.
    #[error("not a JPEG or PNG image")]
    UnknownFormat,
    /// The header looked right but the image does not decode (truncated or corrupt).
    #[error("the image is damaged and cannot be read")]
    Corrupt,
    /// The header announces more pixels than allowed (a decompression bomb, or simply
    /// far larger than any photo needs); refused before decoding.
    #[error("the image is {width}×{height} pixels; at most {max_pixels} pixels are accepted")]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Configured limit.
        max_pixels: u64,
    },
    /// Too small to be useful.
    #[error("the image is {width}×{height} pixels; at least {min_width}×{min_height} is needed")]
    TooSmall {
        /// Actual width.
        width: u32,
        /// Actual height.
        height: u32,
        /// Required width.
        min_width: u32,
        /// Required height.
        min_height: u32,
    },
}

/// Pixel limit used when the caller names none: 40 megapixels (a 12 MP phone photo
/// passes; a small file claiming 100 000 × 100 000 does not).
pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

/// Width and height from the file header alone (JPEG SOF segment, PNG IHDR chunk),
/// without decoding any pixel data.
pub fn dimensions(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), ImageError> {
    let format = ImageFormat::sniff(bytes).ok_or(ImageError::UnknownFormat)?;
    let (w, h) = match format {
        ImageFormat::Png => png_dimensions(bytes),
        ImageFormat::Jpeg => jpeg_dimensions(bytes),
    }
    .ok_or(ImageError::Corrupt)?;
    if w == 0 || h == 0 {
        return Err(ImageError::Corrupt);
    }
    Ok((format, w, h))
}

fn png_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    // Signature (8), chunk length (4), "IHDR" (4), width (4, BE), height (4, BE).
    if b.len() < 24 || &b[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
    Some((w, h))
}

fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2; // after SOI
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while *b.get(i)? == 0xFF && *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *b.get(i)? != 0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        i += 2;
        match marker {
            // Stand-alone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // End of image or start of scan before any frame header: no size.
            0xD9 | 0xDA => return None,
            _ => {}
        }
        let len = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize;
        if len < 2 {
            return None;
        }
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let h = u16::from_be_bytes([*b.get(i + 3)?, *b.get(i + 4)?]) as u32;
            let w = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]) as u32;
            return Some((w, h));
        }
        i += len;
    }
}

/// Decodes `bytes` to a BGR image after checking, from the header, that it has at most
/// `max_pixels` pixels.
pub fn decode_limited(bytes: &[u8], max_pixels: u64) -> Result<(ImageFormat, Mat), ImageError> {
    let (_, width, height) = dimensions(bytes)?;
    if width as u64 * height as u64 > max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    decode_unchecked(bytes)
}

/// Decodes `bytes` to a BGR image (at most [`DEFAULT_MAX_PIXELS`]).
pub fn decode(bytes: &[u8]) -> Result<(ImageFormat, Mat), ImageError> {
    decode_limited(bytes, DEFAULT_MAX_PIXELS)
}

/// Whether a JPEG has its end-of-image marker after the first scan: libjpeg decodes a
/// truncated file into a half-grey picture without complaint, so truncation is caught here.
/// Segments before the scan are skipped by length (an EXIF thumbnail has its own EOI).
fn jpeg_complete(b: &[u8]) -> bool {
    let mut i = 2;
    let sos = loop {
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (b.get(i), b.get(i + 1)) else {
            return false;
        };
        i += 2;
        match marker {
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return false,
            0xDA => break i,
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (b.get(i), b.get(i + 1)) else {
            return false;
        };
        i += u16::from_be_bytes([hi, lo]) as usize;
    };
    // Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so
    // FF D9 after the scan header is the real end of the image.
    b.get(sos..)
        .is_some_and(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]))
}

fn decode_unchecked(bytes: &[u8]) -> Result<(ImageFormat, Mat), ImageError> {
    let format = ImageFormat::sniff(bytes).ok_or(ImageError::UnknownFormat)?;
    if format == ImageFormat::Jpeg && !jpeg_complete(bytes) {
        return Err(ImageError::Corrupt);
    }
    let buf = Vector::<u8>::from_slice(bytes);
    let mat =
        imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).map_err(|_| ImageError::Corrupt)?;
    if mat.empty() {
        return Err(ImageError::Corrupt);
    }
    Ok((format, mat))
}

/// Decodes `bytes` and checks the size is at least `min_width`×`min_height`.
pub fn probe(bytes: &[u8], min_width: u32, min_height: u32) -> Result<ImageInfo, ImageError> {
    let (format, mat) = decode(bytes)?;
    let (width, height) = (mat.cols() as u32, mat.rows() as u32);
    if width < min_width || height < min_height {
        return Err(ImageError::TooSmall {
            width,
            height,
            min_width,
            min_height,
        });
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

/// Encodes a solid test image (for tests and demo data) as JPEG or PNG.
pub fn synthetic(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    use opencv::core::{Scalar, CV_8UC3};
    let mat = Mat::new_rows_cols_with_default(
        height as i32,
        width as i32,
        CV_8UC3,
        Scalar::new(90.0, 140.0, 200.0, 0.0),
    )
    .expect("allocate image");
    let ext = match format {
        ImageFormat::Jpeg => ".jpg",
        ImageFormat::Png => ".png",
    };
    let mut out = Vector::<u8>::new();
    imgcodecs::imencode(ext, &mat, &mut out, &Vector::new()).expect("encode image");
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_real_jpeg_and_png() {
        let jpg = synthetic(320, 240, ImageFormat::Jpeg);
        assert_eq!(
            probe(&jpg, 100, 100).unwrap(),
            ImageInfo {
                format: ImageFormat::Jpeg,
                width: 320,
                height: 240
            }
        );
        let png = synthetic(200, 300, ImageFormat::Png);
        assert_eq!(probe(&png, 100, 100).unwrap().format, ImageFormat::Png);
    }

    #[test]
    fn refuses_small_truncated_and_foreign_bytes() {
        let jpg = synthetic(64, 48, ImageFormat::Jpeg);
        assert!(matches!(
            probe(&jpg, 100, 100),
            Err(ImageError::TooSmall { width: 64, .. })
        ));
        let big = synthetic(320, 240, ImageFormat::Png);
        assert_eq!(probe(&big[..40], 1, 1), Err(ImageError::Corrupt));
        assert_eq!(
            probe(b"%PDF-1.7 not an image", 1, 1),
            Err(ImageError::UnknownFormat)
        );
    }

    #[test]
    fn header_dimensions_match_the_decoded_image() {
        for (w, h, f) in [
            (320, 240, ImageFormat::Jpeg),
            (17, 1000, ImageFormat::Png),
            (1000, 3, ImageFormat::Jpeg),
        ] {
            let bytes = synthetic(w, h, f);
            assert_eq!(dimensions(&bytes).unwrap(), (f, w, h));
        }
    }

    #[test]
    fn refuses_a_bomb_from_its_header_before_decoding() {
        // A PNG whose header claims 100 000 × 100 000 pixels and holds no pixel data: the
        // limit fires on the header (TooLarge), never reaching the decoder (Corrupt).
        let mut png = synthetic(8, 8, ImageFormat::Png);
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        png.truncate(33);
        assert_eq!(
            decode(&png).unwrap_err(),
            ImageError::TooLarge {
                width: 100_000,
                height: 100_000,
                max_pixels: DEFAULT_MAX_PIXELS
            }
        );
        // A real, well-formed image above a configured limit is refused the same way.
        let jpg = synthetic(320, 240, ImageFormat::Jpeg);
        assert!(matches!(
            decode_limited(&jpg, 320 * 240 - 1),
            Err(ImageError::TooLarge { .. })
        ));
        assert!(decode_limited(&jpg, 320 * 240).is_ok());
        // A JPEG cut before its frame header has no size.
        assert_eq!(dimensions(&jpg[..4]).unwrap_err(), ImageError::Corrupt);
    }
}
